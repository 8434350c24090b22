"""The fill watcher's message groups: stream messages and ``Track`` hand-overs that wait together in its
mailbox are handled in one go, their fills booked in one ledger transaction (used by
:class:`actors.fill_watcher.FillWatcher`).

Within a group every event is applied to its tracker as it comes, in arrival order, and every action is
performed as usual except two, which wait for the end of the group: booking a fill and replying to the
caller (and, for the orders they concern, the ledger status sync that follows an event). At the end the
fills are booked in one transaction, in order; then the replies go out and the statuses are synced, in
order — so a confirmation is still only sent once its fills are committed. Under load each ledger
transaction costs GIL hand-offs and holds the SQLite write lock the order placer needs for its
write-ahead rows; one per group instead of one per fill shortens both.

Failures: if the group's transaction fails, each fill is booked on its own, so one fill's failure stays
its own (a fill that cannot be booked is logged CRITICAL and left for the next read-back, as always). A
fill of an order nobody tracks is booked directly, after the group so far has been flushed (fills of one
market are booked in the order they came). An exception escaping mid-group still flushes what was gathered
before it propagates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kalshi_guard.actors.confirmation import BookFill, Finish
from kalshi_guard.actors.messages import Track
from kalshi_guard.core.errors import LedgerError

GROUP_MAX = 64  # messages handled as one group at most


@dataclass
class Group:
    """What waits for the end of a group: bookings and replies in order, and the trackers to sync."""

    held: list[tuple[str, Any, Any]] = field(default_factory=list)  # (coid, tracker, BookFill | Finish)
    touched: dict[str, Any] = field(default_factory=dict)  # coid -> tracker, synced after the flush


class FillGroups:
    """Mixin of the fill watcher. Expects its ``_track``, ``_on_stream``, ``_perform``, ``_sync``,
    ``_fill_record``, ``_book_one`` and ``_booked`` methods, ``self.ledger`` and ``self.log``."""

    ledger: Any
    log: Any
    _group: Group | None = None

    def _handle_group(self, messages: list[Any]) -> None:
        """Handle ``Track`` and ``StreamMessage``s as one group (see the module docstring)."""
        self._group = Group()
        try:
            for message in messages:
                if isinstance(message, Track):
                    self._track(message)  # type: ignore[attr-defined]  # defined on FillWatcher, which this mixes into
                else:
                    self._on_stream(message.message)  # type: ignore[attr-defined]  # defined on FillWatcher, which this mixes into
        finally:
            self._flush_group()

    def _hold(self, coid: str, tracker: Any, action: Any) -> bool:
        """In a group, keep a booking or a reply for the end of the group; True when kept."""
        group = self._group
        if group is None or not isinstance(action, BookFill | Finish):
            return False
        group.held.append((coid, tracker, action))
        group.touched[coid] = tracker
        return True

    def _sync_later(self, coid: str, tracker: Any) -> bool:
        """In a group, sync an order with kept actions after the flush; True when deferred."""
        group = self._group
        if group is None or coid not in group.touched:
            return False
        group.touched[coid] = tracker
        return True

    def _flush_group(self, *, restart: bool = False) -> None:
        """Book the kept fills in one transaction, then reply and sync in order; ``restart`` opens a new
        group for the rest of the messages."""
        group, self._group = self._group, None
        if group is None:
            return
        books = [(c, t, a) for c, t, a in group.held if isinstance(a, BookFill) and t is not None]
        results = dict(zip((id(a) for _, _, a in books), self._book_together(books), strict=True))
        for coid, tracker, action in group.held:
            if isinstance(action, BookFill):
                result = results.get(id(action))
                if result is not None:
                    self._booked(coid, tracker, action, result)  # type: ignore[attr-defined]  # defined on FillWatcher, which this mixes into
            else:
                self._perform(coid, action, tracker=tracker)  # type: ignore[attr-defined]  # defined on FillWatcher, which this mixes into
        for coid, tracker in group.touched.items():
            self._sync(coid, tracker)  # type: ignore[attr-defined]  # defined on FillWatcher, which this mixes into
        if restart:
            self._group = Group()

    def _book_together(self, books: list[tuple[str, Any, BookFill]]) -> list[Any]:
        """One result per fill (None where it could not be booked)."""
        if not books:
            return []
        records = [self._fill_record(coid, tracker, action) for coid, tracker, action in books]  # type: ignore[attr-defined]  # defined on FillWatcher, which this mixes into
        if len(records) > 1:
            try:
                return list(self.ledger.book_fills(records))
            except LedgerError as exc:
                self.log.error("booking {} fills together failed ({}); booking each on its own", len(records), exc)
        return [self._book_one(coid, action, record)  # type: ignore[attr-defined]  # defined on FillWatcher, which this mixes into
                for (coid, _, action), record in zip(books, records, strict=True)]
