"""The staged rollout as the ledger remembers it (ledger.rollout)."""

from __future__ import annotations

from kalshi_guard.config.schema import RolloutStage
from kalshi_guard.ledger.rollout import DAY_S, STAGE, current_stage, may_advance

from .conftest import T0

STAGES = (RolloutStage(name="week 1", advance_after_days=7), RolloutStage(name="week 2", advance_after_days=7),
          RolloutStage(name="full"))


def start(ledger, index=0):
    ledger.log_activity(STAGE, "info", "stage", {"stage": index, "name": STAGES[index].name})


class TestStage:
    def test_no_row_is_the_first_stage_not_yet_begun(self, open_ledger):
        state = current_stage(open_ledger(), 3)
        assert (state.index, state.since) == (0, None)

    def test_the_latest_row_is_current_and_clamped_to_the_config(self, open_ledger):
        ledger = open_ledger()
        start(ledger, 2)
        assert current_stage(ledger, 3).index == 2
        assert current_stage(ledger, 2).index == 1  # a shorter list keeps its last stage


class TestAdvance:
    def test_refused_before_the_days_have_run(self, open_ledger, clock):
        ledger = open_ledger()
        start(ledger)
        verdict = may_advance(ledger, STAGES, T0 + 6 * DAY_S)
        assert not verdict.allowed
        assert "more day" in verdict.reason

    def test_allowed_after_a_clean_week(self, open_ledger, clock):
        ledger = open_ledger()
        start(ledger)
        assert may_advance(ledger, STAGES, T0 + 7 * DAY_S).allowed

    def test_a_kill_switch_trip_since_the_stage_began_blocks_it(self, open_ledger, clock):
        ledger = open_ledger()
        start(ledger)
        clock.advance(DAY_S)
        ledger.log_activity("KILL_SWITCH", "CRITICAL", "daily loss", {})
        verdict = may_advance(ledger, STAGES, T0 + 8 * DAY_S)
        assert not verdict.allowed
        assert "kill-switch" in verdict.reason

    def test_the_last_stage_does_not_advance(self, open_ledger):
        ledger = open_ledger()
        start(ledger, 2)
        assert not may_advance(ledger, STAGES, T0 + 100 * DAY_S).allowed

    def test_not_begun_is_not_advanceable(self, open_ledger):
        verdict = may_advance(open_ledger(), STAGES, T0)
        assert not verdict.allowed
        assert "stage start" in verdict.reason
