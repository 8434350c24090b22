"""Alerts the outbox could not take: kept in memory and sent straight to their channels meanwhile.

The outbox (a ledger table) is what makes delivery survive a ``kill -9``. When the ledger cannot write — a
full disk, a database that went away — the alerts of that moment are the ones an operator needs most (the
kill switch that follows a ledger failure, the orphan report), so they must not be dropped with the failed
transaction. :class:`HeldAlerts` keeps them (at most ``HELD_MAX``; beyond that the oldest INFO go first,
then the oldest of any severity, each loss counted in the log), hands each to the delivery worker of every
channel it is routed to (:meth:`actors.delivery.ChannelWorker.send_direct`), and offers the ones not yet
delivered everywhere to the outbox again on the alerter's next flush (at most every ``RETRY_S``). Once
the outbox takes them, the workers' direct copies are void and delivery is the outbox's again.

Delivery stays at least once: a direct send in flight when the outbox takes the alert goes out twice. An
alert held at a ``kill -9`` is lost with the process, as any alert still in the alerter's mailbox is.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kalshi_guard.ledger.outbox import QueuedAlert
from kalshi_guard.ledger.records import OutboxAlert

HELD_MAX = 1000  # alerts kept in memory while the outbox cannot be written
RETRY_S = 5.0  # the outbox is offered held alerts again at most this often (new alerts wait no longer)
LOG_EVERY_S = 60.0  # while the outage lasts, its log line repeats this often


class Held:
    """One alert the outbox refused: :meth:`pending` are its channels that have not confirmed it, and
    :meth:`mark_queued` voids its direct copies once the outbox took it after all. Shared with the delivery
    threads (under a lock)."""

    def __init__(self, row: QueuedAlert, channels: Iterable[str], direct_id: int, created_at: float) -> None:
        self.row = row
        self.direct_id = direct_id
        self.created_at = created_at
        self._pending = set(channels)
        self._queued = False
        self._lock = threading.Lock()

    def wanted_on(self, channel: str) -> bool:
        """Whether a worker should still send it straight to ``channel``."""
        with self._lock:
            return not self._queued and channel in self._pending

    def sent_on(self, channel: str) -> None:
        """``channel`` confirmed it (called from the channel's delivery thread)."""
        with self._lock:
            self._pending.discard(channel)

    def pending(self) -> tuple[str, ...]:
        """The channels still to confirm it, sorted."""
        with self._lock:
            return tuple(sorted(self._pending))

    def mark_queued(self) -> None:
        """The outbox took it: direct copies are no longer sent."""
        with self._lock:
            self._queued = True

    def as_outbox(self, channel: str) -> OutboxAlert:
        """The alert as the channel's worker reads one from the outbox (a negative id: it has no row)."""
        return OutboxAlert(self.direct_id, channel, self.row.severity, self.row.title, self.row.fields,
                           self.row.dedup_key, self.created_at, 0, None)


class HeldAlerts:
    """The alerter's alerts held while the outbox refuses writes.

    ``workers`` maps channel names to objects with ``send_direct(OutboxAlert, Held)``; ``clock`` gives Unix
    seconds; ``log`` is the alerter's logger. Used from the alerter's thread only (the :class:`Held`
    objects themselves are shared with the workers).
    """

    def __init__(self, workers: Mapping[str, Any], clock: Callable[[], float], log: Any) -> None:
        self.workers = workers
        self.clock = clock
        self.log = log
        self.items: list[Held] = []
        self.dropped = 0
        self._ids = itertools.count(-1, -1)
        self._retry_at = 0.0
        self._logged_at: float | None = None  # when the outage was last logged; None: no outage

    def __len__(self) -> int:
        return len(self.items)

    def waiting(self) -> bool:
        """Whether alerts are held and the outbox is not due to be tried again yet: new alerts are held at
        once (and sent straight) instead of waiting on a ledger that just failed."""
        return bool(self.items) and self.clock() < self._retry_at

    def rows(self) -> list[QueuedAlert]:
        """The held alerts for the outbox, each routed only to the channels that have not confirmed it;
        those every channel confirmed are forgotten."""
        self.items = [h for h in self.items if h.pending()]
        return [QueuedAlert(h.row.severity, h.row.title, h.row.fields, h.row.dedup_key, h.pending())
                for h in self.items]

    def hold(self, rows: list[QueuedAlert], error: BaseException | None) -> None:
        """Keep ``rows`` (the outbox refused them with ``error``; None: not tried) and send each straight
        to its configured channels. Logs the outage at once, then every ``LOG_EVERY_S`` while it lasts."""
        now = self.clock()
        if error is not None:
            self._retry_at = now + RETRY_S
        for row in rows:
            held = Held(row, [c for c in row.channels if c in self.workers], next(self._ids), now)
            self.items.append(held)
            for channel in held.pending():
                self.workers[channel].send_direct(held.as_outbox(channel), held)
        self._bound()
        if self._logged_at is None or now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            self.log.error("the alert outbox cannot be written ({}): {} alert(s) held in memory and sent straight "
                           "to their channels{}", repr(error) if error is not None else "retrying later",
                           len(self.items), f"; {self.dropped} dropped (held more than {HELD_MAX})"
                           if self.dropped else "")

    def queued(self) -> None:
        """The outbox took every held alert: their direct copies stop and the outage ends."""
        if self._logged_at is not None:
            self.log.warning("the alert outbox takes writes again: {} held alert(s) queued{}", len(self.items),
                             f"; {self.dropped} were dropped meanwhile" if self.dropped else "")
        for held in self.items:
            held.mark_queued()
        self.items, self.dropped, self._logged_at, self._retry_at = [], 0, None, 0.0

    def _bound(self) -> None:
        while len(self.items) > HELD_MAX:
            victim = next((h for h in self.items if h.row.severity == "INFO"), self.items[0])
            victim.mark_queued()  # void: its direct copies are not sent either
            self.items.remove(victim)
            self.dropped += 1
