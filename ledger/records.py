"""The ledger's public value types: frozen, slotted records and the enums they carry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """A daemon run's state: ``RUNNING`` until ended; a run left ``RUNNING`` was an unclean shutdown."""

    RUNNING = "RUNNING"
    CLEAN = "CLEAN"
    UNCLEAN = "UNCLEAN"


class DeliveryStatus(StrEnum):
    """One alert's delivery state on one channel."""

    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"  # will be retried at next_attempt_at
    GIVEN_UP = "GIVEN_UP"  # max attempts reached; never retried


class OrderStatus(StrEnum):
    """Order lifecycle states (docs/architecture.md §6); the allowed moves are in :mod:`ledger.orders`."""

    INTENT = "INTENT"
    SENT = "SENT"
    RESTING = "RESTING"
    PARTIAL = "PARTIAL"
    UNKNOWN = "UNKNOWN"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        """FILLED, CANCELED and REJECTED are final (fills on a CANCELED order are still booked)."""
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """One activity-log row; ``at`` is Unix seconds."""

    id: int
    at: float
    category: str
    level: str
    message: str
    details: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class OutboxAlert:
    """An alert due for delivery on one channel."""

    id: int
    channel: str
    severity: str
    title: str
    fields: tuple[tuple[str, str], ...]
    dedup_key: str | None
    created_at: float
    attempts: int
    last_error: str | None

    def meta(self, name: str, default: str = "") -> str:
        """A metadata field (stored as ``_name``, e.g. ``_kind``, ``_incident``) or ``default``."""
        return next((v for k, v in self.fields if k == "_" + name), default)

    @property
    def shown_fields(self) -> tuple[tuple[str, str], ...]:
        """The fields meant for people: every field but the ``_``-prefixed metadata."""
        return tuple((k, v) for k, v in self.fields if not k.startswith("_"))


@dataclass(frozen=True, slots=True)
class ReconciliationRecord:
    """One recorded reconciliation pass."""

    id: int
    started_at: float
    finished_at: float
    ok: bool
    summary: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as the ledger holds it. ``price`` is the YES-scale limit; counts are contracts."""

    client_order_id: str
    order_id: str | None
    ticker: str
    event_ticker: str | None
    book_side: str
    outcome: str
    action: str
    count: Decimal
    price: Decimal
    time_in_force: str
    reference_price: Decimal | None
    intent: str
    batch_id: str | None
    status: OrderStatus
    filled_count: Decimal  # sum of fills booked in this ledger
    fees: Decimal  # sum of their fees
    reported_filled_count: Decimal | None  # as the exchange last reported it (via transition)
    remaining_count: Decimal | None  # as the exchange last reported it (via transition)
    reason: str | None
    created_at: float
    updated_at: float

    @property
    def open_count(self) -> Decimal:
        """Contracts that may still fill: ``count − filled_count`` for a non-final order, else 0."""
        if self.status.is_final:
            return Decimal(0)
        return max(self.count - self.filled_count, Decimal(0))


@dataclass(frozen=True, slots=True)
class FillRecord:
    """An exchange fill to book. ``price`` is the YES price; ``ts`` Unix seconds.

    ``book_side`` ``bid`` makes the holder longer YES, ``ask`` longer NO. ``event_ticker`` is optional:
    it is taken from the order when the fill names one.
    """

    trade_id: str
    client_order_id: str | None
    order_id: str | None
    ticker: str
    book_side: str
    count: Decimal
    price: Decimal
    fee: Decimal
    is_taker: bool
    ts: float
    event_ticker: str | None = None


@dataclass(frozen=True, slots=True)
class PositionRecord:
    """A market's net position: ``net_count`` > 0 is YES, < 0 is NO (contracts).

    ``cost_basis`` is Σ(YES price × contracts) of the open contracts; ``avg_price`` the YES-scale average
    entry price (6 dp, display only); ``realized_pnl`` is gross of fees; ``fees`` the fees paid.
    """

    ticker: str
    event_ticker: str | None
    net_count: Decimal
    cost_basis: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    opened_at: float | None
    closed_at: float | None
    close_evidence: str | None
    updated_at: float

    @property
    def is_open(self) -> bool:
        """True while any contract is held."""
        return self.net_count != 0

    @property
    def worst_case_cost(self) -> Decimal:
        """What the open contracts can still lose: YES cost for a long YES, NO cost for a long NO."""
        if self.net_count > 0:
            return self.cost_basis
        if self.net_count < 0:
            return -self.net_count - self.cost_basis
        return Decimal(0)


@dataclass(frozen=True, slots=True)
class BookResult:
    """The outcome of :meth:`Ledger.book_fill`: ``booked`` is False for a duplicate ``trade_id``."""

    booked: bool
    position: PositionRecord
    realized_pnl: Decimal  # realised by this fill (0 for a duplicate or an increasing fill)
    order_status: OrderStatus | None  # the order's status after booking, None when no order matched


@dataclass(frozen=True, slots=True)
class Exposure:
    """Worst-case cost of open positions plus open orders, per market, per event and in total."""

    by_market: Mapping[str, Decimal]
    by_event: Mapping[str, Decimal]
    total: Decimal

    def market(self, ticker: str) -> Decimal:
        """The exposure in one market (0 when none)."""
        return self.by_market.get(ticker, Decimal(0))

    def event(self, event_ticker: str) -> Decimal:
        """The exposure in one event (0 when none)."""
        return self.by_event.get(event_ticker, Decimal(0))
