"""The fill watcher's REST polls of its orders: at most one pending poll per order, due on a schedule, and
paid from the upper half of the read budget (docs/architecture.md §6–7).

A poll is a tracker action that reads the exchange again (look an UNKNOWN order up by ``client_order_id``,
re-read an order and its fills) or one whose read failed. Every poll of an order goes through
:meth:`PollSchedule.add`; a second poll asked for while one is pending **replaces its action and keeps its
due time** — so however many events ask (timeouts, stale-stream passes, retries), an order has one poller
and its poll rate never grows with them.

Delays: a backoff poll (an UNKNOWN lookup, a read that failed) waits ``base_s``, then twice the previous
delay, up to ``max_s``; a plain re-read waits ``base_s``. :meth:`PollSchedule.room` says how many polls the
client's read bucket can pay for now without taking it below half its capacity (the lower half is kept for
pre-trade checks, fresh read-backs and reconciliation); what is due beyond that waits for the next tick.
Pure and single-threaded (the fill watcher's thread); nothing here raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

POLLS_PER_TICK = 20  # at most this many polls per tick whatever the budget
POLL_COST = 20.0  # read tokens one poll may spend (a listing and a fills read, 10 each)


@dataclass(frozen=True, slots=True)
class Poll:
    """One pending poll: the action to perform and when (the fill watcher's clock, Unix seconds)."""

    due: float
    action: Any


class PollSchedule:
    """Pending polls by ``client_order_id`` (one each) with per-order backoff."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self.base_s = base_s
        self.max_s = max(base_s, max_s)
        self._pending: dict[str, Poll] = {}
        self._delay: dict[str, float] = {}  # the last backoff delay of each order

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, coid: object) -> bool:
        return coid in self._pending

    def add(self, coid: str, action: Any, now: float, *, backoff: bool) -> None:
        """Schedule ``action`` for ``coid``. While one is pending, only its action is replaced (a plain
        re-read may bring its due time forward to ``now + base_s``, never later)."""
        pending = self._pending.get(coid)
        if pending is not None:
            due = pending.due if backoff else min(pending.due, now + self.base_s)
            self._pending[coid] = Poll(due, action)
            return
        delay = self.base_s
        if backoff:
            last = self._delay.get(coid)
            delay = self.base_s if last is None else min(self.max_s, last * 2)
            self._delay[coid] = delay
        self._pending[coid] = Poll(now + delay, action)

    def take_due(self, now: float, limit: int) -> list[tuple[str, Any]]:
        """Remove and return up to ``limit`` polls due at ``now``, earliest first."""
        if limit <= 0:
            return []
        ready = sorted((p.due, coid) for coid, p in self._pending.items() if p.due <= now)[:limit]
        return [(coid, self._pending.pop(coid).action) for _, coid in ready]

    def drop(self, coid: str) -> None:
        """Forget ``coid`` (its tracker is done)."""
        self._pending.pop(coid, None)
        self._delay.pop(coid, None)

    @staticmethod
    def room(read_budget: tuple[float, float] | None) -> int:
        """How many polls may run now: ``POLLS_PER_TICK``, fewer when the read bucket (``(tokens, capacity)``,
        None = no client-side bucket) is below half full plus their cost."""
        if read_budget is None:
            return POLLS_PER_TICK
        tokens, capacity = read_budget
        spare = tokens - capacity / 2
        return max(0, min(POLLS_PER_TICK, int(spare // POLL_COST)))
