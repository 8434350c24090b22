"""How the confirmation state machine takes the create's answer (DESIGN §6): sent, rejected, or ambiguous.

A mixin of :class:`~kalshi_guard.actors.confirmation.OrderTracker`. An ambiguous create, or
``409 order_already_exists``, puts the order in UNKNOWN, resolved only by exchange evidence: the market's
orders listed by ``client_order_id`` (:class:`ResolveUnknown`), a fill, an order update. An ambiguous
create may be re-sent once **with the same client_order_id** after a lookup finds nothing
(:class:`RetrySend`); a definitive rejection of that retry does not prove the first attempt failed, so the
order stays UNKNOWN. A fill on an UNKNOWN order proves it exists.
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
    resolves: int
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
            # 409 on a retry: the first attempt landed. Any other rejection of a retry does not prove
            # the first attempt failed (the checks may run before the duplicate check): keep resolving.
            return [self._resolve()]
        if self.state not in (TrackerState.INTENT, TrackerState.SENT):
            return []
        if ev.code == ALREADY_EXISTS:
            self.retries = self.max_send_retries  # it landed: never re-send
            self.state = TrackerState.UNKNOWN
            return [self._resolve()]
        self.reject_code, self.reject_detail = ev.code, ev.detail
        self.state = TrackerState.REJECTED
        return [self._finish_action(ev.ts, ConfirmationStatus.REJECTED)]

    def _proved(self, ts: float) -> list[Action]:
        """A fill proved an UNKNOWN order exists: leave UNKNOWN and learn the rest by reading back."""
        self.state = TrackerState.PARTIAL
        progress = self._live(ts)
        if self.state is TrackerState.PARTIAL:
            progress.append(self._read_back() if self.order_id else self._resolve())
        return progress

    def _resolve(self) -> ResolveUnknown:
        self.resolves += 1
        return ResolveUnknown(self.client_order_id, self.request.ticker, self.resolves)

    def _not_found(self, ts: float) -> list[Action]:
        if self.state is TrackerState.UNKNOWN:
            if self.booked == 0 and self.retries < self.max_send_retries:
                self.retries += 1  # stays UNKNOWN (and blocking) until the retry's answer is evidence
                return [RetrySend(self.client_order_id)]
            return [self._resolve()]
        if self.order_id is None:
            return [self._resolve()]
        return [self._read_back()]
