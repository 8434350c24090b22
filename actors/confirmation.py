"""The per-order confirmation state machine (docs/architecture.md §6): a pure object fed events that returns actions.

The fill watcher is a thin I/O shell around :class:`OrderTracker`: it feeds what it learns (the create
response, stream fills and order updates, cancel and REST read-back results, its own timers) into
:meth:`OrderTracker.handle` and performs the returned actions (book a fill, cancel, re-read, resolve an
UNKNOWN order, reply). No I/O, no threads, no clock: every event carries its own ``ts`` (Unix seconds).
Its states, events and actions are in ``actors.confirmation_events``; how it takes the create's answer
(and resolves UNKNOWN) in ``actors.confirmation_create``, a mixin of the tracker; the confirmation it
reports in ``actors.confirmation_report``.

Rules it enforces:

- Fills are booked exactly once by ``trade_id``; duplicated and reordered stream fills are harmless. A fill
  that would push the cumulative count above the order size, or that reuses a ``trade_id`` with different
  figures, is **not** booked and raises a :class:`FlagDiscrepancy` instead.
- The tracker finishes only when the booked fills add up to an exchange-confirmed final filled count (from
  a cancel's ``reduced_by``, a terminal order update or read-back, or the create response of an IOC/FOK),
  or to the whole order. A cancel is never reported without the fills having been checked.
- Threshold acceptance: filled/ordered ≥ ``threshold`` → request cancel of the rest → PARTIAL (FILLED when
  nothing remained). Timeout → cancel the remainder → re-read order and fills → book → TIMEOUT.
- Ambiguous create, or ``409 order_already_exists`` → UNKNOWN → resolved only by exchange evidence (the
  market's orders listed by ``client_order_id``, a fill, an order update). An ambiguous create may be re-sent
  once **with the same client_order_id** after a lookup finds nothing (:class:`RetrySend`); a definitive
  rejection of that retry does not prove the first attempt failed, so the order stays UNKNOWN. At the
  timeout an UNKNOWN order is reported as UNKNOWN (``Finish(final=False)``) and tracking goes on until the
  evidence settles it: found, or absent long enough to be REJECTED ``NOT_ON_EXCHANGE``.
- A fill after a cancel request is booked; a fill on an UNKNOWN order resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from kalshi_guard.actors.confirmation_create import ALREADY_EXISTS, CreateOutcome
from kalshi_guard.actors.confirmation_events import (
    LIVE,
    TERMINAL,
    Action,
    Ambiguous,
    BookFill,
    CancelOutcome,
    CancelRequested,
    CancelResult,
    EndReason,
    Event,
    ExchangeStatus,
    FillSeen,
    Finish,
    FlagDiscrepancy,
    OrderSnapshot,
    OrderUpdate,
    ReadBack,
    ReadBackOrderAndFills,
    Rejected,
    RequestCancel,
    ResolveUnknown,
    RetrySend,
    Sending,
    Sent,
    StreamStale,
    TimeoutReached,
    TrackerState,
)
from kalshi_guard.actors.confirmation_report import Booked, report
from kalshi_guard.actors.end_reason import Quote, explain
from kalshi_guard.actors.orders_api import (
    ONE,
    ZERO,
    Confirmation,
    ConfirmationStatus,
    OrderRequest,
    outcome_price,
)

__all__ = [  # the vocabulary lives in actors.confirmation_events; re-exported for the tracker's users
    "ALREADY_EXISTS", "LIVE", "TERMINAL", "Action", "Ambiguous", "BookFill", "CancelOutcome", "CancelRequested",
    "CancelResult", "EndReason", "Event", "ExchangeStatus", "FillSeen", "Finish", "FlagDiscrepancy",
    "OrderSnapshot", "OrderTracker", "OrderUpdate", "ReadBack", "ReadBackOrderAndFills", "Rejected",
    "RequestCancel", "ResolveUnknown", "RetrySend", "Sending", "Sent", "StreamStale", "TimeoutReached",
    "TrackerState",
]


@dataclass(slots=True)
class OrderTracker(CreateOutcome):
    """Confirmation state machine of one order. Feed events to :meth:`handle`; perform the actions.

    ``threshold`` is the accepted fraction (e.g. 0.80); ``created_ts`` starts the latency clock.
    ``max_send_retries`` bounds :class:`RetrySend` after an ambiguous create (0 disables it).
    ``settle_s``: how long an UNKNOWN order must stay absent from the exchange's listing (with no fill in its
    market that could be its) before it is REJECTED as ``NOT_ON_EXCHANGE``.
    """

    request: OrderRequest
    client_order_id: str
    threshold: Decimal
    created_ts: float
    max_send_retries: int = 1
    state: TrackerState = TrackerState.INTENT
    order_id: str | None = None
    end: EndReason | None = None
    reject_code: str | None = None
    reject_detail: str | None = None
    replied: bool = False
    timed_out: bool = False
    cancel_wanted: bool = False
    cancel_sent: bool = False
    reported_filled: Decimal = ZERO
    final_filled: Decimal | None = None
    readbacks: int = 0
    resolves: int = 0
    retries: int = 0
    settle_s: float = 30.0
    absent_since: float | None = None
    landed: bool = False
    doubt_flagged: bool = False
    fills: dict[str, Booked] = field(default_factory=dict)
    quote: Quote | None = None  # the book the pre-trade check saw, for the no-fill reason

    # -- derived ---------------------------------------------------------------------------------

    @property
    def count(self) -> Decimal:
        """Contracts ordered."""
        return self.request.count

    @property
    def booked(self) -> Decimal:
        """Contracts booked so far (sum of distinct fills)."""
        return sum((f.count for f in self.fills.values()), ZERO)

    def why(self, status: ConfirmationStatus) -> tuple[str | None, str | None]:
        """``(reason, detail)`` of a confirmation with ``status``: the rejection, or why contracts went
        unfilled (:func:`actors.end_reason.explain`); ``(None, None)`` when there is nothing to explain."""
        if self.reject_code is not None or status in (ConfirmationStatus.FILLED, ConfirmationStatus.UNKNOWN,
                                                      ConfirmationStatus.REJECTED):
            return self.reject_code, self.reject_detail
        ending = (self.end or EndReason.EXCHANGE).value
        return explain(self.request, ending, self.count - self.booked, self.quote) or (None, None)

    @property
    def terminal(self) -> bool:
        """True once the order is settled and no event can change the confirmation."""
        return self.state in TERMINAL

    @property
    def order_state(self) -> TrackerState:
        """The ledger state: internal sub-states map to RESTING / PARTIAL / UNKNOWN."""
        if self.state in (TrackerState.CANCEL_PENDING, TrackerState.READING_BACK, TrackerState.AWAITING_FILLS):
            return TrackerState.PARTIAL if self.booked > 0 else TrackerState.RESTING
        return self.state

    # -- entry point -------------------------------------------------------------------------------

    def handle(self, event: Event) -> list[Action]:
        """Apply one event; return the actions to perform, in order. Never raises on exchange data."""
        if isinstance(event, FillSeen):
            return self._on_fill(event)
        if self.terminal:
            return []
        handler = _HANDLERS.get(type(event))
        if handler is None:
            return [FlagDiscrepancy(f"unhandled event {type(event).__name__}")]
        return handler(self, event)

    # -- event handlers ----------------------------------------------------------------------------

    def _on_update(self, ev: OrderUpdate) -> list[Action]:
        if ev.status is ExchangeStatus.UNKNOWN:
            return []
        if ev.order_id is not None and self.order_id is None:
            self.order_id = ev.order_id
        self.reported_filled = max(self.reported_filled, ev.fill_count)
        if ev.status is ExchangeStatus.RESTING:
            return self._live(ev.ts)
        self._dead(ev.fill_count, EndReason.EXCHANGE)
        if self.state is not TrackerState.READING_BACK:
            self.state = TrackerState.AWAITING_FILLS
        return self._progress(ev.ts)

    def _on_cancel_requested(self, ev: CancelRequested) -> list[Action]:
        self.cancel_wanted = True
        if self.state in LIVE and self.end is None:
            return self._cancel(EndReason.CANCELED)
        return []

    def _on_cancel_result(self, ev: CancelResult) -> list[Action]:
        if self.state is not TrackerState.CANCEL_PENDING:
            return []
        self.cancel_sent = False
        if ev.outcome is CancelOutcome.OK and ev.reduced_by is not None:
            self._dead(self.count - ev.reduced_by, self.end or EndReason.CANCELED)
        self.state = TrackerState.READING_BACK
        return [self._read_back()]

    def _on_timeout(self, ev: TimeoutReached) -> list[Action]:
        first = not self.timed_out
        self.timed_out = True
        if self.state in LIVE and self.end is None:
            return self._cancel(EndReason.TIMEOUT)
        if self.state is TrackerState.UNKNOWN:
            out: list[Action] = []
            if first and not self.replied:
                out.append(self._finish_action(ev.ts, ConfirmationStatus.UNKNOWN, final=False))
            out.append(self._resolve())
            return out
        if self.state in (TrackerState.AWAITING_FILLS, TrackerState.READING_BACK) and self.order_id:
            self.state = TrackerState.READING_BACK
            return [self._read_back()]
        return []

    def _on_stale(self, ev: StreamStale) -> list[Action]:
        if self.state is TrackerState.UNKNOWN:
            return [self._resolve()]
        if self.order_id and self.state in (*LIVE, TrackerState.AWAITING_FILLS):
            return [self._read_back()]
        return []

    def _on_read_back(self, ev: ReadBack) -> list[Action]:
        out: list[Action] = []
        for fill in ev.fills:
            out += self._apply_fill(fill)
        order = ev.order
        if order is None:
            if self.state is TrackerState.UNKNOWN and self.booked > 0:
                self.order_id = self.order_id or next((f.order_id for f in ev.fills if f.order_id), None)
                return out + self._proved(ev.ts)
            if self.state is not TrackerState.UNKNOWN:
                progress = self._progress(ev.ts, reread=True)
                if progress:
                    return out + progress
            return out + self._not_found(ev.ts, ev.unattributed)
        if self.order_id is None:
            self.order_id = order.order_id
        elif order.order_id != self.order_id:
            return [*out, FlagDiscrepancy(f"read-back returned order {order.order_id}, expected {self.order_id}")]
        self.reported_filled = max(self.reported_filled, order.fill_count)
        if order.status is ExchangeStatus.RESTING:
            if self.state is TrackerState.READING_BACK and self.final_filled is None:
                # The cancel was ambiguous or 404'd yet the order still rests: cancel it again.
                self.state = TrackerState.PARTIAL if self._known() > 0 else TrackerState.RESTING
                return out + self._cancel(self.end or EndReason.CANCELED)
            return out + self._live(ev.ts)
        if order.status is ExchangeStatus.UNKNOWN:
            return [*out, self._read_back()]
        self._dead(order.fill_count, self.end or EndReason.EXCHANGE)
        if self.state is not TrackerState.AWAITING_FILLS:
            self.state = TrackerState.READING_BACK
        return out + self._progress(ev.ts, reread=True)

    def _on_fill(self, ev: FillSeen) -> list[Action]:
        out = self._apply_fill(ev)
        if self.terminal:
            return out
        if ev.order_id is not None and self.order_id is None:
            self.order_id = ev.order_id
        if self.state is TrackerState.UNKNOWN and any(isinstance(a, BookFill) for a in out):
            return out + self._proved(ev.ts)
        if self.state in (TrackerState.INTENT, TrackerState.SENT):
            return out  # the create response is still to come; it decides what happens next
        if self.state is TrackerState.RESTING and self.booked > 0:
            self.state = TrackerState.PARTIAL
        return out + self._progress(ev.ts)

    # -- helpers -------------------------------------------------------------------------------------

    def _apply_fill(self, ev: FillSeen) -> list[Action]:
        seen = self.fills.get(ev.trade_id)
        if seen is not None:
            if (seen.count, seen.yes_price, seen.fee) == (ev.count, ev.yes_price, ev.fee):
                return []
            return [FlagDiscrepancy(f"trade {ev.trade_id} seen again with different figures; kept the first")]
        if ev.count <= 0 or not ZERO <= ev.yes_price <= ONE or ev.fee < 0:
            return [FlagDiscrepancy(f"trade {ev.trade_id} has impossible figures; not booked")]
        if self.order_id is not None and ev.order_id is not None and ev.order_id != self.order_id:
            return [FlagDiscrepancy(f"trade {ev.trade_id} belongs to order {ev.order_id}; not booked")]
        if self.booked + ev.count > self.count:
            return [FlagDiscrepancy(
                f"overfill: trade {ev.trade_id} ({ev.count}) would take order {self.client_order_id} to "
                f"{self.booked + ev.count} of {self.count}; not booked"
            )]
        self.fills[ev.trade_id] = Booked(ev.count, ev.yes_price, ev.fee, ev.is_taker)
        out: list[Action] = [BookFill(
            trade_id=ev.trade_id, order_id=self.order_id or ev.order_id, count=ev.count, yes_price=ev.yes_price,
            price=outcome_price(self.request.outcome, ev.yes_price), fee=ev.fee, ts=ev.ts,
        )]
        if self.terminal:
            out.append(FlagDiscrepancy(f"trade {ev.trade_id} arrived after order {self.client_order_id} was final"))
        return out

    def _known(self) -> Decimal:
        return max(self.booked, self.reported_filled)

    def _dead(self, filled: Decimal, reason: EndReason) -> None:
        """Record the exchange-confirmed final filled count (the largest evidence wins)."""
        self.final_filled = filled if self.final_filled is None else max(self.final_filled, filled)
        if self.end is None:
            self.end = reason

    def _live(self, ts: float) -> list[Action]:
        """The exchange says the order rests."""
        if self.state in (TrackerState.INTENT, TrackerState.SENT, TrackerState.UNKNOWN, *LIVE):
            self.state = TrackerState.PARTIAL if self._known() > 0 else TrackerState.RESTING
        if self.state in LIVE and self.end is None:
            if self.timed_out:
                return self._cancel(EndReason.TIMEOUT)
            if self.cancel_wanted:
                return self._cancel(EndReason.CANCELED)
        return self._progress(ts)

    def _cancel(self, reason: EndReason) -> list[Action]:
        if self.order_id is None:
            return []
        self.end = self.end or reason
        self.state = TrackerState.CANCEL_PENDING
        self.cancel_sent = True
        return [RequestCancel(self.order_id, self.request.ticker)]

    def _read_back(self) -> ReadBackOrderAndFills:
        assert self.order_id is not None
        self.readbacks += 1
        return ReadBackOrderAndFills(self.order_id, self.readbacks)

    def _progress(self, ts: float, reread: bool = False) -> list[Action]:
        """Finish, accept at the threshold, or wait — from the evidence gathered so far."""
        if self.booked >= self.count or (self.final_filled is not None and self.booked >= self.final_filled):
            return self._finish(ts)
        if self.final_filled is not None:
            if reread or self.state is TrackerState.READING_BACK:
                return [self._read_back()]
            return []  # dead on the exchange: its fills are on the way (timeout/stale re-reads them)
        if self.state in LIVE and self.end is None and self._known() >= self.threshold * self.count:
            return self._cancel(EndReason.ACCEPTED)
        return []

    def _finish(self, ts: float) -> list[Action]:
        booked = self.booked
        out: list[Action] = []
        if self.final_filled is not None and booked > self.final_filled:
            out.append(FlagDiscrepancy(
                f"booked {booked} for {self.client_order_id} but the exchange reports {self.final_filled} filled"
            ))
        if booked >= self.count:
            status, self.state = ConfirmationStatus.FILLED, TrackerState.FILLED
        else:
            self.state = TrackerState.CANCELED
            if self.end is EndReason.TIMEOUT:
                status = ConfirmationStatus.TIMEOUT
            elif self.end is EndReason.CANCELED or booked == 0:
                status = ConfirmationStatus.CANCELED
            else:
                status = ConfirmationStatus.PARTIAL
        out.append(self._finish_action(ts, status))
        return out

    def _finish_action(self, ts: float, status: ConfirmationStatus, final: bool = True) -> Finish:
        self.replied = True
        return Finish(self.confirmation(ts, status), final=final)

    def confirmation(self, ts: float, status: ConfirmationStatus) -> Confirmation:
        """The confirmation as of ``ts`` with ``status`` (see :func:`actors.confirmation_report.report`)."""
        return report(self, ts, status)


_HANDLERS = {
    Sending: OrderTracker._on_sending,
    Sent: OrderTracker._on_sent,
    Ambiguous: OrderTracker._on_ambiguous,
    Rejected: OrderTracker._on_rejected,
    OrderUpdate: OrderTracker._on_update,
    CancelRequested: OrderTracker._on_cancel_requested,
    CancelResult: OrderTracker._on_cancel_result,
    TimeoutReached: OrderTracker._on_timeout,
    StreamStale: OrderTracker._on_stale,
    ReadBack: OrderTracker._on_read_back,
}
