"""Tests of the fill watcher's poll schedule (actors.poll_schedule): one pending poll per order, backoff with a
cap, and polls paid from the upper half of the read budget."""

from __future__ import annotations

from kalshi_guard.actors.poll_schedule import POLLS_PER_TICK, PollSchedule


def run(schedule: PollSchedule, coid: str, start: float, until: float, step: float = 0.25) -> list[float]:
    """Re-arm ``coid``'s backoff poll after each one is taken (as the fill watcher does while it stays
    UNKNOWN); return when polls were due."""
    taken = []
    now = start
    schedule.add(coid, "look", now, backoff=True)
    while now < until:
        now += step
        for _ in schedule.take_due(now, POLLS_PER_TICK):
            taken.append(now)
            schedule.add(coid, "look", now, backoff=True)
    return taken


class TestOnePollerPerOrder:
    def test_asking_again_while_pending_replaces_the_action_not_the_time(self):
        """However many events ask for a poll of one order, one is pending, due when the first said."""
        s = PollSchedule(1.0, 30.0)
        for n in range(100):
            s.add("a", f"look {n}", 10.0 + n * 0.001, backoff=True)
        assert len(s) == 1
        assert s.take_due(10.5, 10) == []
        assert s.take_due(11.0, 10) == [("a", "look 99")]
        assert len(s) == 0

    def test_a_plain_reread_may_come_forward_never_later(self):
        """A re-read asked while a long backoff poll is pending is due after ``base_s``."""
        s = PollSchedule(1.0, 30.0)
        s.add("a", "look", 0.0, backoff=True)
        s.take_due(1.0, 1)
        s.add("a", "look", 1.0, backoff=True)  # due at 3.0
        s.add("a", "reread", 1.5, backoff=False)
        assert s.take_due(2.5, 1) == [("a", "reread")]

    def test_orders_are_independent_and_dropped_when_done(self):
        s = PollSchedule(1.0, 30.0)
        s.add("a", "x", 0.0, backoff=True)
        s.add("b", "y", 0.0, backoff=True)
        s.drop("a")
        assert s.take_due(5.0, 10) == [("b", "y")]


class TestBackoff:
    def test_delays_double_up_to_the_cap(self):
        """Polls at 1, 3, 7, 15, 31 s, then every 30 s: 8 in two minutes, 1 in the last ten seconds."""
        taken = run(PollSchedule(1.0, 30.0), "a", 0.0, 120.0)
        assert taken == [1.0, 3.0, 7.0, 15.0, 31.0, 61.0, 91.0]
        assert [t for t in taken if t > 110.0] == []

    def test_the_rate_never_grows_with_time(self):
        """Ten minutes of an order that stays UNKNOWN: no minute polls more than the first; then one poll
        per cap interval."""
        taken = run(PollSchedule(0.5, 10.0), "a", 0.0, 600.0)
        per_minute = [sum(1 for t in taken if m * 60 < t <= (m + 1) * 60) for m in range(10)]
        assert all(n <= per_minute[0] for n in per_minute), per_minute
        assert per_minute[2:] == [6] * 8


class TestReadBudget:
    def test_without_a_bucket_a_tick_takes_at_most_the_cap(self):
        assert PollSchedule.room(None) == POLLS_PER_TICK

    def test_polls_only_spend_the_upper_half_of_the_bucket(self):
        """A bucket of 200 tokens at 120 leaves 20 above half: one poll (20 tokens); at 100 or less, none."""
        assert PollSchedule.room((120.0, 200.0)) == 1
        assert PollSchedule.room((100.0, 200.0)) == 0
        assert PollSchedule.room((10.0, 200.0)) == 0
        assert PollSchedule.room((10_000.0, 10_000.0)) == POLLS_PER_TICK

    def test_what_is_due_beyond_the_room_waits(self):
        s = PollSchedule(1.0, 30.0)
        for coid in "abc":
            s.add(coid, coid, 0.0, backoff=True)
        assert [c for c, _ in s.take_due(5.0, 2)] == ["a", "b"]
        assert [c for c, _ in s.take_due(5.0, 2)] == ["c"]
