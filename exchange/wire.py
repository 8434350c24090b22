"""Kalshi REST wire types (current 2026 shapes, docs/kalshi.md §3 and §6.3): frozen dataclasses, Decimal money."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kalshi_guard.core.errors import Ambiguous, Rejected
from kalshi_guard.exchange.wire_base import (
    BookSide,
    Fields,
    OrderStatus,
    OutcomeSide,
    SelfTradePrevention,
    TimeInForce,
    book_of,
    fmt_count,
    fmt_price,
    outcome_of,
)

__all__ = [
    "AmendOrderRequest",
    "AmendResult",
    "BatchCancelItem",
    "BatchCreateItem",
    "BookSide",
    "CancelResult",
    "CreateOrderRequest",
    "CreateOrderResult",
    "DecreaseResult",
    "Fill",
    "Order",
    "OrderStatus",
    "OutcomeSide",
    "SelfTradePrevention",
    "TimeInForce",
]


def _k(*names: str) -> frozenset[str]:
    return frozenset(names)


# ---------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class CreateOrderRequest:
    """A V2 create (``POST /portfolio/events/orders``); ``price`` is always on the YES scale."""

    ticker: str
    side: BookSide
    count: Decimal
    price: Decimal
    client_order_id: str | None = None
    time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCELED
    self_trade_prevention_type: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS
    expiration_time: int | None = None  # Unix seconds
    post_only: bool | None = None
    reduce_only: bool | None = None
    cancel_order_on_pause: bool | None = None
    subaccount: int | None = None
    order_group_id: str | None = None
    exchange_index: int | None = None

    @property
    def outcome_side(self) -> OutcomeSide:
        """The outcome this order makes us long."""
        return outcome_of(self.side)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body. Raises ValueError for a count/price that cannot be sent exactly."""
        body: dict[str, Any] = {
            "ticker": self.ticker,
            "side": self.side.value,
            "count": fmt_count(self.count),
            "price": fmt_price(self.price),
            "time_in_force": self.time_in_force.value,
            "self_trade_prevention_type": self.self_trade_prevention_type.value,
        }
        for name in ("client_order_id", "expiration_time", "post_only", "reduce_only",
                     "cancel_order_on_pause", "subaccount", "order_group_id", "exchange_index"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


@dataclass(frozen=True, slots=True)
class AmendOrderRequest:
    """A V2 amend: ``count`` is the new total (already filled + desired resting)."""

    ticker: str
    side: BookSide
    price: Decimal
    count: Decimal
    client_order_id: str | None = None
    updated_client_order_id: str | None = None
    expiration_time: int | None = None
    exchange_index: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON body. Raises ValueError for an inexact count/price."""
        body: dict[str, Any] = {
            "ticker": self.ticker,
            "side": self.side.value,
            "price": fmt_price(self.price),
            "count": fmt_count(self.count),
        }
        for name in ("client_order_id", "updated_client_order_id", "expiration_time", "exchange_index"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


# ---------------------------------------------------------------- write results

_CREATE_KEYS = _k("order_id", "client_order_id", "fill_count", "remaining_count", "average_fill_price",
                  "average_fee_paid", "ts_ms", "error", "exchange_index")


@dataclass(frozen=True, slots=True)
class CreateOrderResult:
    """What a V2 create says: provisional immediate fill (confirm via fills/stream)."""

    order_id: str
    client_order_id: str | None
    fill_count: Decimal
    remaining_count: Decimal
    average_fill_price: Decimal | None
    average_fee_paid: Decimal | None
    ts_ms: int | None

    @classmethod
    def parse(cls, data: Any) -> CreateOrderResult:
        """Parse a create response. Raises Ambiguous when ``order_id`` or a count is missing."""
        f = Fields("CreateOrderV2Response", data, _CREATE_KEYS)
        return cls(
            order_id=f.s("order_id"),
            client_order_id=f.os("client_order_id"),
            fill_count=f.d("fill_count"),
            remaining_count=f.d("remaining_count"),
            average_fill_price=f.od("average_fill_price"),
            average_fee_paid=f.od("average_fee_paid"),
            ts_ms=f.oi("ts_ms"),
        )


def item_error(kind: str, raw: Any) -> Rejected:
    """A per-item batch error (an ``ErrorResponse``) as a Rejected with Kalshi's code."""
    if isinstance(raw, dict):
        code = raw.get("code") if isinstance(raw.get("code"), str) else None
        message = raw.get("message") if isinstance(raw.get("message"), str) else ""
    else:
        code, message = None, str(raw)
    return Rejected(f"{kind} item rejected: {code or '?'}: {message}", code=code, body=repr(raw)[:500])


@dataclass(frozen=True, slots=True)
class BatchCreateItem:
    """One element of a batch create: exactly one of ``result`` / ``error`` is set."""

    client_order_id: str | None
    result: CreateOrderResult | None
    error: Rejected | None

    @classmethod
    def parse(cls, data: Any) -> BatchCreateItem:
        """Parse one element. An element without error and without an order raises Ambiguous."""
        f = Fields("BatchCreateOrdersV2Item", data, _CREATE_KEYS)
        if data.get("error") is not None:
            return cls(f.os("client_order_id"), None, item_error("batch create", data["error"]))
        return cls(f.os("client_order_id"), CreateOrderResult.parse(data), None)


_CANCEL_KEYS = _k("order_id", "client_order_id", "reduced_by", "ts_ms", "error", "exchange_index")


@dataclass(frozen=True, slots=True)
class CancelResult:
    """A V2 cancel: ``reduced_by`` is the remaining count that was cancelled."""

    order_id: str
    client_order_id: str | None
    reduced_by: Decimal
    ts_ms: int | None

    @classmethod
    def parse(cls, data: Any) -> CancelResult:
        """Parse a cancel response. Raises Ambiguous on a missing ``order_id``/``reduced_by``."""
        f = Fields("CancelOrderV2Response", data, _CANCEL_KEYS)
        return cls(f.s("order_id"), f.os("client_order_id"), f.d("reduced_by"), f.oi("ts_ms"))


@dataclass(frozen=True, slots=True)
class BatchCancelItem:
    """One element of a batch cancel; ``error`` set means that order was not cancelled by this call."""

    order_id: str
    client_order_id: str | None
    reduced_by: Decimal
    error: Rejected | None

    @classmethod
    def parse(cls, data: Any) -> BatchCancelItem:
        """Parse one element. Raises Ambiguous when ``order_id`` is missing."""
        f = Fields("BatchCancelOrdersV2Item", data, _CANCEL_KEYS)
        err = item_error("batch cancel", data["error"]) if data.get("error") is not None else None
        reduced = f.od("reduced_by")
        if reduced is None:
            if err is None:
                raise Ambiguous("kalshi batch cancel item without reduced_by", body=repr(data)[:500])
            reduced = Decimal("0.00")
        return cls(f.s("order_id"), f.os("client_order_id"), reduced, err)


@dataclass(frozen=True, slots=True)
class AmendResult:
    """A V2 amend; the counts are present only when the amend filled or changed size."""

    order_id: str
    client_order_id: str | None
    remaining_count: Decimal | None
    fill_count: Decimal | None
    average_fill_price: Decimal | None
    average_fee_paid: Decimal | None
    ts_ms: int | None

    @classmethod
    def parse(cls, data: Any) -> AmendResult:
        """Parse an amend response. Raises Ambiguous without ``order_id``."""
        f = Fields("AmendOrderV2Response", data, _CREATE_KEYS)
        return cls(f.s("order_id"), f.os("client_order_id"), f.od("remaining_count"), f.od("fill_count"),
                   f.od("average_fill_price"), f.od("average_fee_paid"), f.oi("ts_ms"))


@dataclass(frozen=True, slots=True)
class DecreaseResult:
    """A V2 decrease: the new remaining count."""

    order_id: str
    client_order_id: str | None
    remaining_count: Decimal
    ts_ms: int | None

    @classmethod
    def parse(cls, data: Any) -> DecreaseResult:
        """Parse a decrease response. Raises Ambiguous without ``order_id``/``remaining_count``."""
        f = Fields("DecreaseOrderV2Response", data, _CREATE_KEYS)
        return cls(f.s("order_id"), f.os("client_order_id"), f.d("remaining_count"), f.oi("ts_ms"))


# ---------------------------------------------------------------- orders and fills

_ORDER_KEYS = _k(
    "order_id", "user_id", "client_order_id", "ticker", "side", "action", "outcome_side", "book_side", "type",
    "status", "yes_price_dollars", "no_price_dollars", "fill_count_fp", "remaining_count_fp",
    "initial_count_fp", "taker_fill_cost_dollars", "maker_fill_cost_dollars", "taker_fees_dollars",
    "maker_fees_dollars", "expiration_time", "created_time", "last_update_time",
    "self_trade_prevention_type", "order_group_id", "cancel_order_on_pause", "subaccount_number",
    "exchange_index", "last_update_reason",
)


def _book_side(f: Fields) -> BookSide:
    """``book_side``, else derived from ``outcome_side`` (both are the same bit)."""
    if f.data.get("book_side") is not None:
        side: BookSide = f.enum("book_side", BookSide)
        return side
    return book_of(f.enum("outcome_side", OutcomeSide))


def _status(f: Fields) -> OrderStatus:
    raw = f.s("status")
    try:
        return OrderStatus(raw)
    except ValueError:
        return OrderStatus.UNKNOWN  # fail closed: an unknown status is not "done"


@dataclass(frozen=True, slots=True)
class Order:
    """An order as ``GET /portfolio/orders`` reports it (prices in dollars on the YES scale)."""

    order_id: str
    client_order_id: str
    ticker: str
    book_side: BookSide
    status: OrderStatus
    yes_price: Decimal
    fill_count: Decimal
    remaining_count: Decimal
    initial_count: Decimal
    taker_fill_cost: Decimal = Decimal(0)
    maker_fill_cost: Decimal = Decimal(0)
    taker_fees: Decimal = Decimal(0)
    maker_fees: Decimal = Decimal(0)
    user_id: str | None = None
    created_time: str | None = None
    last_update_time: str | None = None
    expiration_time: str | None = None
    order_group_id: str | None = None
    self_trade_prevention_type: str | None = None
    cancel_order_on_pause: bool | None = None
    subaccount_number: int | None = None
    exchange_index: int | None = None
    last_update_reason: str | None = None

    @property
    def outcome_side(self) -> OutcomeSide:
        """The outcome this order makes the user long."""
        return outcome_of(self.book_side)

    @property
    def fees(self) -> Decimal:
        """Taker plus maker fees paid so far."""
        return self.taker_fees + self.maker_fees

    @classmethod
    def parse(cls, data: Any) -> Order:
        """Parse an Order. Raises Ambiguous when an identifying or count field is missing."""
        f = Fields("Order", data, _ORDER_KEYS)
        zero = Decimal(0)
        return cls(
            order_id=f.s("order_id"),
            client_order_id=f.os("client_order_id", "") or "",
            ticker=f.s("ticker"),
            book_side=_book_side(f),
            status=_status(f),
            yes_price=f.d("yes_price_dollars"),
            fill_count=f.d("fill_count_fp"),
            remaining_count=f.d("remaining_count_fp"),
            initial_count=f.d("initial_count_fp"),
            taker_fill_cost=f.od("taker_fill_cost_dollars") or zero,
            maker_fill_cost=f.od("maker_fill_cost_dollars") or zero,
            taker_fees=f.od("taker_fees_dollars") or zero,
            maker_fees=f.od("maker_fees_dollars") or zero,
            user_id=f.os("user_id"),
            created_time=f.os("created_time"),
            last_update_time=f.os("last_update_time"),
            expiration_time=f.os("expiration_time"),
            order_group_id=f.os("order_group_id"),
            self_trade_prevention_type=f.os("self_trade_prevention_type"),
            cancel_order_on_pause=f.data.get("cancel_order_on_pause")
            if isinstance(f.data.get("cancel_order_on_pause"), bool) else None,
            subaccount_number=f.oi("subaccount_number"),
            exchange_index=f.oi("exchange_index"),
            last_update_reason=f.os("last_update_reason"),
        )


_FILL_KEYS = _k(
    "fill_id", "exchange_index", "trade_id", "order_id", "client_order_id", "ticker", "market_ticker", "side",
    "action", "outcome_side", "book_side", "count_fp", "yes_price_dollars", "no_price_dollars", "is_taker",
    "created_time", "fee_cost", "subaccount_number", "ts",
)


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill (``GET /portfolio/fills``); ``price`` is the YES price; keyed by ``trade_id``."""

    trade_id: str
    order_id: str
    ticker: str
    book_side: BookSide
    count: Decimal
    price: Decimal
    fee: Decimal
    is_taker: bool
    client_order_id: str | None = None
    created_time: str | None = None
    ts: int | None = None
    subaccount_number: int | None = None
    exchange_index: int | None = None
    no_price: Decimal | None = field(default=None)

    @property
    def outcome_side(self) -> OutcomeSide:
        """The outcome this fill made the user long."""
        return outcome_of(self.book_side)

    @classmethod
    def parse(cls, data: Any) -> Fill:
        """Parse a REST fill. Raises Ambiguous when id, order, count or price is missing."""
        f = Fields("Fill", data, _FILL_KEYS)
        trade_id = f.os("trade_id") or f.s("fill_id")
        ticker = f.os("ticker") or f.s("market_ticker")
        return cls(
            trade_id=trade_id,
            order_id=f.s("order_id"),
            ticker=ticker,
            book_side=_book_side(f),
            count=f.d("count_fp"),
            price=f.d("yes_price_dollars"),
            fee=f.d("fee_cost"),
            is_taker=f.b("is_taker", False),
            client_order_id=f.os("client_order_id"),
            created_time=f.os("created_time"),
            ts=f.oi("ts"),
            subaccount_number=f.oi("subaccount_number"),
            exchange_index=f.oi("exchange_index"),
            no_price=f.od("no_price_dollars"),
        )
