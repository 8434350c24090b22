"""The confirmation state machine's vocabulary (docs/architecture.md §6): its states, the events it is fed
and the actions it returns (used by :class:`~kalshi_guard.actors.confirmation.OrderTracker` and the fill
watcher around it).

Events carry their own ``ts`` (Unix seconds) so the machine needs no clock. Every event and action is a
frozen dataclass; nothing here does I/O or can fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from kalshi_guard.actors.orders_api import Confirmation


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
    """A REST re-read: the order (None = not found) and its fills (complete as far as REST knows).

    ``unattributed``: when a lookup by ``client_order_id`` found nothing, how many fills in the order's market
    since it was written belong to no order we know (any of them could be this order's); None = not read.
    """

    order: OrderSnapshot | None
    fills: tuple[FillSeen, ...]
    ts: float
    unattributed: int | None = None


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
    """List the market's orders, match ``client_order_id``, fetch its fills; feed a :class:`ReadBack`. When it
    is not listed, also count the market's fills since ``since`` (Unix s) that no known order owns."""

    client_order_id: str
    ticker: str
    attempt: int
    since: float | None = None


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
