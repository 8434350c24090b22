"""The per-order confirmation state machine (docs/architecture.md §6): a pure object fed events that returns actions.

The fill watcher is a thin I/O shell around :class:`OrderTracker`: it feeds what it learns (the create
response, stream fills and order updates, cancel and REST read-back results, its own timers) into
:meth:`OrderTracker.handle` and performs the returned actions (book a fill, cancel, re-read, resolve an
UNKNOWN order, reply). No I/O, no threads, no clock: every event carries its own ``ts`` (Unix seconds).

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
  timeout an UNKNOWN order is reported as UNKNOWN (``Finish(final=False)``) and tracking goes on.
- A fill after a cancel request is booked; a fill on an UNKNOWN order resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from kalshi_guard.actors.end_reason import Quote, explain
from kalshi_guard.actors.orders_api import (
    ONE,
    ZERO,
    Confirmation,
    ConfirmationStatus,
    FillDetail,
    OrderRequest,
    outcome_price,
)
from kalshi_guard.actors.slippage import order_slippage

ALREADY_EXISTS = "order_already_exists"


class TrackerState(StrEnum):
    """Where the order is. The first eight are order states (ledger); the rest are internal sub-states."""

    INTENT = "INTENT"  # written ahead, not yet on the wire
    SENT = "SENT"  # create request on the wire, no answer yet
    RESTING = "RESTING"  # on the book, nothing filled
    PARTIAL = "PARTIAL"  # on the book, something filled
    UNKNOWN = "UNKNOWN"  # we cannot tell whether it exists; counts at full size
    FILLED = "FILLED"  # terminal: every contract filled
    CANCELED = "CANCELED"  # terminal: dead with fewer fills than ordered (fills kept)
    REJECTED = "REJECTED"  # terminal: a definitive "no"
    CANCEL_PENDING = "CANCEL_PENDING"  # a cancel is in flight
    READING_BACK = "READING_BACK"  # re-reading the order and its fills over REST
    AWAITING_FILLS = "AWAITING_FILLS"  # dead on the exchange; waiting for its fills to arrive


TERMINAL = frozenset({TrackerState.FILLED, TrackerState.CANCELED, TrackerState.REJECTED})
LIVE = frozenset({TrackerState.RESTING, TrackerState.PARTIAL})


class EndReason(StrEnum):
    """Why the order is being brought to an end (decides the confirmation status)."""

    ACCEPTED = "accepted"  # threshold reached, rest cancelled
    TIMEOUT = "timeout"
    CANCELED = "canceled"  # someone asked us to cancel
    EXCHANGE = "exchange"  # the exchange ended it (self-trade, pause, close, IOC/FOK remainder)


class ExchangeStatus(StrEnum):
    """Kalshi's order ``status`` (``unknown`` appears on the user_orders channel)."""

    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"
    UNKNOWN = "unknown"


class CancelOutcome(StrEnum):
    """What a cancel request returned: 200, 404 (already dead or unknown), or ambiguous."""

    OK = "ok"
    NOT_FOUND = "not_found"
    AMBIGUOUS = "ambiguous"


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sending:
    """The create request is about to go on the wire (after the gate check)."""

    ts: float


@dataclass(frozen=True, slots=True)
class Sent:
    """The create response (201): the counts the engine reported at creation."""

    order_id: str
    fill_count: Decimal
    remaining_count: Decimal
    ts: float


@dataclass(frozen=True, slots=True)
class FillSeen:
    """One fill, from the stream or a REST read. ``yes_price`` is the YES-book price as Kalshi reports it."""

    trade_id: str
    count: Decimal
    yes_price: Decimal
    fee: Decimal
    ts: float
    order_id: str | None = None
    is_taker: bool | None = None


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order status from the user_orders stream (or any status source)."""

    status: ExchangeStatus
    fill_count: Decimal
    remaining_count: Decimal
    ts: float
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelRequested:
    """Someone (bot, operator, halt) asks to cancel this order."""

    ts: float


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The cancel call returned. ``reduced_by`` is the remaining count at cancel time when OK."""

    outcome: CancelOutcome
    ts: float
    reduced_by: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """The create's outcome is unknown (timeout, reset, 5xx, 2xx without an order_id, unparseable body)."""

    detail: str
    ts: float


@dataclass(frozen=True, slots=True)
class Rejected:
    """A definitive rejection of the create, with Kalshi's ``error.code`` (or the gate's)."""

    code: str
    ts: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TimeoutReached:
    """The confirmation timeout fired (the actor may also repeat it as a poll tick afterwards)."""

    ts: float


@dataclass(frozen=True, slots=True)
class StreamStale:
    """The private stream has been silent too long: poll over REST instead."""

    ts: float


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """The order as a REST read (by id, or found in a listing by client_order_id) showed it."""

    order_id: str
    status: ExchangeStatus
    fill_count: Decimal
    remaining_count: Decimal
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReadBack:
    """A REST re-read: the order (None = not found) and its fills (complete as far as REST knows)."""

    order: OrderSnapshot | None
    fills: tuple[FillSeen, ...]
    ts: float


Event = (
    Sending | Sent | FillSeen | OrderUpdate | CancelRequested | CancelResult | Ambiguous | Rejected
    | TimeoutReached | StreamStale | ReadBack
)


# -- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookFill:
    """Book this fill (and its position change) in one transaction. ``price`` is the outcome's price."""

    trade_id: str
    order_id: str | None
    count: Decimal
    yes_price: Decimal
    price: Decimal
    fee: Decimal
    ts: float


@dataclass(frozen=True, slots=True)
class RequestCancel:
    """Send a cancel for this order."""

    order_id: str
    ticker: str


@dataclass(frozen=True, slots=True)
class ReadBackOrderAndFills:
    """GET the order by id and its fills; feed a :class:`ReadBack`. ``attempt`` counts from 1."""

    order_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ResolveUnknown:
    """List the market's orders, match ``client_order_id``, fetch its fills; feed a :class:`ReadBack`."""

    client_order_id: str
    ticker: str
    attempt: int


@dataclass(frozen=True, slots=True)
class RetrySend:
    """Re-send the create with the **same** client_order_id (gate checked again at the send point)."""

    client_order_id: str


@dataclass(frozen=True, slots=True)
class FlagDiscrepancy:
    """Something the exchange said does not add up: alert loudly (nothing was booked for it)."""

    detail: str


@dataclass(frozen=True, slots=True)
class Finish:
    """Reply to the caller (first Finish only). ``final`` = the order is settled and tracking ends."""

    confirmation: Confirmation
    final: bool = True


Action = BookFill | RequestCancel | ReadBackOrderAndFills | ResolveUnknown | RetrySend | FlagDiscrepancy | Finish


@dataclass(slots=True)
class _Booked:
    count: Decimal
    yes_price: Decimal
    fee: Decimal
    is_taker: bool | None


@dataclass(slots=True)
class OrderTracker:
    """Confirmation state machine of one order. Feed events to :meth:`handle`; perform the actions.

    ``threshold`` is the accepted fraction (e.g. 0.80); ``created_ts`` starts the latency clock.
    ``max_send_retries`` bounds :class:`RetrySend` after an ambiguous create (0 disables it).
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
    fills: dict[str, _Booked] = field(default_factory=dict)
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
            return out + self._not_found(ev.ts)
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
        self.fills[ev.trade_id] = _Booked(ev.count, ev.yes_price, ev.fee, ev.is_taker)
        out: list[Action] = [BookFill(
            trade_id=ev.trade_id, order_id=self.order_id or ev.order_id, count=ev.count, yes_price=ev.yes_price,
            price=outcome_price(self.request.outcome, ev.yes_price), fee=ev.fee, ts=ev.ts,
        )]
        if self.terminal:
            out.append(FlagDiscrepancy(f"trade {ev.trade_id} arrived after order {self.client_order_id} was final"))
        return out

    def _proved(self, ts: float) -> list[Action]:
        """A fill proved an UNKNOWN order exists: leave UNKNOWN and learn the rest by reading back."""
        self.state = TrackerState.PARTIAL
        progress = self._live(ts)
        if self.state is TrackerState.PARTIAL:
            progress.append(self._read_back() if self.order_id else self._resolve())
        return progress

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
        """The confirmation as of ``ts`` with ``status`` (counts, average price, fees, slippage, latency)."""
        req = self.request
        booked = self.booked
        fills = tuple(
            FillDetail(tid, f.count, outcome_price(req.outcome, f.yes_price), f.fee, f.is_taker)
            for tid, f in self.fills.items()
        )
        average = None
        if booked > 0:
            average = sum((f.count * f.price for f in fills), ZERO) / booked
        slip = order_slippage(
            req.outcome, req.action, ((f.count, f.yes_price) for f in self.fills.values()),
            req.price, req.reference_price,
        )
        reason, detail = self.why(status)
        return Confirmation(
            status=status,
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            filled_count=booked,
            # what may still fill, as the ledger says: nothing once the order has ended
            remaining_count=self.count - booked if status is ConfirmationStatus.UNKNOWN else ZERO,
            unfilled_count=self.count - booked,
            average_price=average,
            fees=sum((f.fee for f in fills), ZERO),
            slippage=slip,
            latency_ms=max(0, round((ts - self.created_ts) * 1000)),
            reason=reason,
            detail=detail,
            fills=fills,
        )


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
