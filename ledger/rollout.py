"""The staged live rollout as the ledger remembers it: which stage is current since when, and whether it may
advance. The stage is an activity-log row (category ``ROLLOUT_STAGE``, details ``{"stage": i, "name": …}``);
no row means the first stage, counted from the first live run. Pure reads; ``LedgerError`` on failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STAGE = "ROLLOUT_STAGE"
KILL_SWITCH = "KILL_SWITCH"
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class StageState:
    """The current stage (index into ``golive.stages``), when it began (Unix s; None = not recorded yet)."""

    index: int
    since: float | None


@dataclass(frozen=True, slots=True)
class Advance:
    """Whether the current stage may advance now, and why (or why not)."""

    allowed: bool
    reason: str


def current_stage(ledger: Any, stage_count: int) -> StageState:
    """The latest recorded stage, clamped to the configured stages (a shorter list after an edit keeps the
    last one: never more caps than configured, never fewer silently — the last stage is the loosest)."""
    rows = ledger.activity(STAGE, limit=1)
    if not rows:
        return StageState(0, None)
    details = rows[0].details or {}
    index = int(details.get("stage", 0))
    return StageState(max(0, min(index, max(0, stage_count - 1))), rows[0].at)


def may_advance(ledger: Any, stages: tuple[Any, ...], now: float) -> Advance:
    """The current stage may advance when it is not the last, has run ``advance_after_days`` since it began
    (since the first stage row, or — for the first stage — since it was recorded), and no kill-switch row
    and no failed reconciliation were recorded since."""
    if not stages:
        return Advance(False, "no rollout stages are configured")
    state = current_stage(ledger, len(stages))
    if state.index >= len(stages) - 1:
        return Advance(False, f"already at the last stage ({stages[-1].name})")
    if state.since is None:
        return Advance(False, "the first stage has not begun: `kalshi-guard stage start` records it")
    need = stages[state.index].advance_after_days * DAY_S
    if now - state.since < need:
        left = (need - (now - state.since)) / DAY_S
        return Advance(False, f"{stages[state.index].name} has {left:.1f} more day(s) to run")
    kills = [a for a in ledger.activity(KILL_SWITCH, limit=1000) if a.at >= state.since]
    if kills:
        return Advance(False, f"{len(kills)} kill-switch event(s) since {stages[state.index].name} began: "
                              f"{kills[0].message}")
    last = ledger.last_reconciliation()
    if last is not None and not last.ok and last.started_at >= state.since:
        return Advance(False, f"the last reconciliation was not clean: {last.summary}")
    return Advance(True, f"{stages[state.index].name} ran clean for {stages[state.index].advance_after_days:g} days")
