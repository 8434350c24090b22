"""Simulator accounts: cash, collateral reserved by resting orders, signed positions with YES/NO netting."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)
ONE = Decimal(1)


DEFAULT_ACCOUNT = "sim-user"  # the account the signed key trades on
MAKER_ACCOUNT = "sim-maker"  # the seeded liquidity's account (unlimited balance)

class OrderStatus(StrEnum):
    """Kalshi order status (no ``pending`` in any current spec)."""

    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"


@dataclass(slots=True)
class Order:
    """One order's mutable state (guarded by the exchange lock). ``price`` is on the YES scale."""

    order_id: str
    account: str
    client_order_id: str
    ticker: str
    book_side: str  # bid | ask
    price: Decimal
    initial: Decimal
    remaining: Decimal
    time_in_force: str
    stp: str
    created_ts: float
    filled: Decimal = ZERO
    status: OrderStatus = OrderStatus.RESTING
    expiration_ts: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    cancel_on_pause: bool = False
    order_group_id: str | None = None
    updated_ts: float = 0.0
    taker_fill_cost: Decimal = ZERO
    maker_fill_cost: Decimal = ZERO
    taker_fees: Decimal = ZERO
    maker_fees: Decimal = ZERO
    last_update_reason: str = ""
    subaccount: int = 0

    @property
    def outcome_side(self) -> str:
        """``yes`` for a bid, ``no`` for an ask."""
        return "yes" if self.book_side == "bid" else "no"

    @property
    def side_price(self) -> Decimal:
        """The price paid per contract on the outcome bought (YES price for bids, 1 − price for asks)."""
        return self.price if self.book_side == "bid" else ONE - self.price


@dataclass(slots=True)
class Position:
    """Net position in one market: + YES contracts, − NO contracts; ``cost`` is what the holding cost."""

    ticker: str
    position: Decimal = ZERO
    cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    total_traded: Decimal = ZERO
    fees_paid: Decimal = ZERO
    volume: Decimal = ZERO
    updated_ts: float = 0.0

    def apply(self, outcome: str, count: Decimal, side_price: Decimal, fee: Decimal, ts: float) -> Decimal:
        """Buy ``count`` contracts of ``outcome`` at ``side_price``; returns the cash change (negative = paid).

        Opposite holdings net first: each netted YES+NO pair returns $1 of collateral at once.
        """
        sign = 1 if outcome == "yes" else -1
        cash = -(count * side_price) - fee
        netted = ZERO
        if self.position * sign < 0:
            netted = min(count, abs(self.position))
            avg = self.cost / abs(self.position)
            self.cost -= avg * netted
            self.realized_pnl += netted * (ONE - side_price) - avg * netted
            cash += netted
            self.position += sign * netted
            if self.position == 0:
                self.cost = ZERO
        rest = count - netted
        if rest > 0:
            self.position += sign * rest
            self.cost += rest * side_price
        self.total_traded += count * side_price
        self.fees_paid += fee
        self.volume += count
        self.updated_ts = ts
        return cash


@dataclass(slots=True)
class Fill:
    """One fill on one account (frozen in spirit: never changed after creation)."""

    fill_id: str
    order_id: str
    client_order_id: str
    ticker: str
    book_side: str
    count: Decimal
    yes_price: Decimal
    is_taker: bool
    fee: Decimal
    ts: float
    post_position: Decimal


@dataclass(slots=True)
class Settlement:
    """A settled market on one account."""

    ticker: str
    event_ticker: str
    result: str
    yes_count: Decimal
    yes_cost: Decimal
    no_count: Decimal
    no_cost: Decimal
    revenue_cents: int
    ts: float


@dataclass(slots=True)
class Account:
    """An exchange account: cash, reserved collateral, orders, fills, positions, settlements."""

    name: str
    cash: Decimal
    unlimited: bool = False  # the synthetic market makers never run out of money
    reserved: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    order_ids: list[str] = field(default_factory=list)  # creation order
    fills: list[Fill] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)
    client_ids: set[str] = field(default_factory=set)  # spent forever
    updated_ts: float = 0.0

    @property
    def available(self) -> Decimal:
        """Cash not reserved by resting orders."""
        return self.cash - self.reserved

    def position(self, ticker: str) -> Position:
        """The position record for ``ticker`` (created flat on first use)."""
        pos = self.positions.get(ticker)
        if pos is None:
            pos = self.positions[ticker] = Position(ticker)
        return pos
