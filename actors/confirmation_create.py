"""How the confirmation state machine takes the create's answer (docs/architecture.md §6): sent, rejected, or ambiguous.

A mixin of :class:`~kalshi_guard.actors.confirmation.OrderTracker`. An ambiguous create, or
``409 order_already_exists``, puts the order in UNKNOWN, resolved only by exchange evidence: the market's
orders listed by ``client_order_id`` (:class:`ResolveUnknown`), a fill, an order update. An ambiguous
create may be re-sent once **with the same client_order_id** after a lookup finds nothing
(:class:`RetrySend`); a definitive rejection of that retry does not prove the first attempt failed, so the
order stays UNKNOWN. A fill on an UNKNOWN order proves it exists.

UNKNOWN is settled while running: an order the listing has not shown for ``settle_s`` since its last send
attempt, that never answered 409, with nothing booked and no fill in its market that could be its, is
REJECTED as ``NOT_ON_EXCHANGE``. A failed read is no evidence (the fill watcher retries it later); an
unattributable fill keeps it UNKNOWN (flagged once). How often it is looked up is the fill watcher's
schedule (``actors.poll_schedule``); the tracker only says what to look up next.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_guard.actors.confirmation_events import (
    Action,
    Ambiguous,
    EndReason,
    FlagDiscrepancy,
    ReadBackOrderAndFills,
    Rejected,
    ResolveUnknown,
    RetrySend,
    Sending,
    Sent,
    TrackerState,
)
from kalshi_guard.actors.orders_api import ConfirmationStatus

ALREADY_EXISTS = "order_already_exists"
NOT_ON_EXCHANGE = "NOT_ON_EXCHANGE"


class CreateOutcome:
    """Mixin: the create's answer and the resolution of UNKNOWN. Uses the tracker's fields and helpers."""

    __slots__ = ()

    request: Any
    client_order_id: str
    state: TrackerState
    order_id: str | None
    reported_filled: Decimal
    reject_code: str | None
    reject_detail: str | None
    created_ts: float
    resolves: int
    settle_s: float
    absent_since: float | None
    landed: bool
    doubt_flagged: bool
    retries: int
    max_send_retries: int
    booked: Decimal

    if TYPE_CHECKING:  # the tracker's helpers
        def _dead(self, filled: Decimal, reason: EndReason) -> None: ...
        def _live(self, ts: float) -> list[Action]: ...
        def _progress(self, ts: float, reread: bool = False) -> list[Action]: ...
        def _read_back(self) -> ReadBackOrderAndFills: ...
        def _finish_action(self, ts: float, status: ConfirmationStatus, final: bool = True) -> Any: ...

    def _on_sending(self, ev: Sending) -> list[Action]:
        self.absent_since = None  # this attempt may land: absence is counted from the next listing
        if self.state is TrackerState.INTENT:
            self.state = TrackerState.SENT
        return []

    def _on_sent(self, ev: Sent) -> list[Action]:
        if self.state not in (TrackerState.INTENT, TrackerState.SENT, TrackerState.UNKNOWN):
            if self.order_id is not None and ev.order_id != self.order_id:
                return [FlagDiscrepancy(f"second create response {ev.order_id} for order {self.order_id}")]
            return []
        self.order_id = ev.order_id
        self.reported_filled = max(self.reported_filled, ev.fill_count)
        if self.request.time_in_force.immediate or ev.remaining_count <= 0:
            self._dead(ev.fill_count, EndReason.EXCHANGE)
            self.state = TrackerState.AWAITING_FILLS
            return self._progress(ev.ts)
        return self._live(ev.ts)

    def _on_ambiguous(self, ev: Ambiguous) -> list[Action]:
        if self.state not in (TrackerState.INTENT, TrackerState.SENT, TrackerState.UNKNOWN):
            return []
        self.state = TrackerState.UNKNOWN
        return [self._resolve()]

    def _on_rejected(self, ev: Rejected) -> list[Action]:
        if self.state is TrackerState.UNKNOWN:
            self.landed = self.landed or ev.code == ALREADY_EXISTS
            # 409 on a retry: the first attempt landed. Any other rejection of a retry does not prove
            # the first attempt failed (the checks may run before the duplicate check): keep resolving.
            return [self._resolve()]
        if self.state not in (TrackerState.INTENT, TrackerState.SENT):
            return []
        if ev.code == ALREADY_EXISTS:
            self.retries = self.max_send_retries  # it landed: never re-send
            self.landed = True
            self.state = TrackerState.UNKNOWN
            return [self._resolve()]
        self.reject_code, self.reject_detail = ev.code, ev.detail
        self.state = TrackerState.REJECTED
        return [self._finish_action(ev.ts, ConfirmationStatus.REJECTED)]

    def _still_absent(self, ts: float, unattributed: int | None) -> list[Action]:
        """The listing does not show the UNKNOWN order. REJECTED (``NOT_ON_EXCHANGE``) only when it has been
        absent for ``settle_s``, it never answered 409 (it landed), nothing was booked for it, and no fill in
        its market since it was written could be its (``unattributed == 0``, read with this listing).
        Otherwise it stays UNKNOWN — blocking its market — and is looked up again; a fill nobody owns is
        flagged once (it may be this order's: never assume it did not fill)."""
        assert self.absent_since is not None
        out: list[Action] = []
        if self.landed or self.booked > 0 or unattributed is None or ts - self.absent_since < self.settle_s:
            return [self._resolve()]
        if unattributed > 0:
            if not self.doubt_flagged:
                self.doubt_flagged = True
                out.append(FlagDiscrepancy(
                    f"order {self.client_order_id} is not on the exchange, but {unattributed} fill(s) in "
                    f"{self.request.ticker} belong to no known order: it may have filled; it stays UNKNOWN"))
            return [*out, self._resolve()]
        self.reject_code = NOT_ON_EXCHANGE
        self.reject_detail = (f"not listed by the exchange for {ts - self.absent_since:.0f}s after its last "
                              f"send, and no fill in {self.request.ticker} could be its: it never landed")
        self.state = TrackerState.REJECTED
        return [self._finish_action(ts, ConfirmationStatus.REJECTED)]

    def _proved(self, ts: float) -> list[Action]:
        """A fill proved an UNKNOWN order exists: leave UNKNOWN and learn the rest by reading back."""
        self.state = TrackerState.PARTIAL
        progress = self._live(ts)
        if self.state is TrackerState.PARTIAL:
            progress.append(self._read_back() if self.order_id else self._resolve())
        return progress

    def _resolve(self) -> ResolveUnknown:
        self.resolves += 1
        return ResolveUnknown(self.client_order_id, self.request.ticker, self.resolves, self.created_ts)

    def _not_found(self, ts: float, unattributed: int | None = None) -> list[Action]:
        if self.state is TrackerState.UNKNOWN:
            if self.absent_since is None:
                self.absent_since = ts  # a new send attempt (Sending) starts the count again
            if self.booked == 0 and self.retries < self.max_send_retries:
                self.retries += 1  # stays UNKNOWN (and blocking) until the retry's answer is evidence
                return [RetrySend(self.client_order_id)]
            return self._still_absent(ts, unattributed)
        if self.order_id is None:
            return [self._resolve()]
        return [self._read_back()]
