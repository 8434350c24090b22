"""Kalshi REST read types beyond orders: positions, balance, settlements, markets, books, exchange, limits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_guard.core.errors import Ambiguous
from kalshi_guard.exchange.wire_base import Fields, to_decimal


def _k(*names: str) -> frozenset[str]:
    return frozenset(names)


_POS_KEYS = _k("ticker", "exchange_index", "total_traded_dollars", "position_fp", "market_exposure_dollars",
               "realized_pnl_dollars", "fees_paid_dollars", "last_updated_ts", "resting_orders_count")


@dataclass(frozen=True, slots=True)
class MarketPosition:
    """A net position in one market: ``position`` > 0 is YES contracts, < 0 NO contracts."""

    ticker: str
    position: Decimal
    market_exposure: Decimal
    realized_pnl: Decimal
    total_traded: Decimal
    fees_paid: Decimal
    last_updated_ts: str | None = None
    exchange_index: int | None = None

    @classmethod
    def parse(cls, data: Any) -> MarketPosition:
        """Parse one market position. Raises Ambiguous when ticker or ``position_fp`` is missing."""
        f = Fields("MarketPosition", data, _POS_KEYS)
        zero = Decimal(0)
        return cls(f.s("ticker"), f.d("position_fp"), f.od("market_exposure_dollars") or zero,
                   f.od("realized_pnl_dollars") or zero, f.od("total_traded_dollars") or zero,
                   f.od("fees_paid_dollars") or zero, f.os("last_updated_ts"), f.oi("exchange_index"))


_EPOS_KEYS = _k("event_ticker", "total_cost_dollars", "total_cost_shares_fp", "event_exposure_dollars",
                "realized_pnl_dollars", "fees_paid_dollars", "exchange_index")


@dataclass(frozen=True, slots=True)
class EventPosition:
    """Aggregates over one event."""

    event_ticker: str
    total_cost: Decimal
    total_cost_shares: Decimal
    event_exposure: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal

    @classmethod
    def parse(cls, data: Any) -> EventPosition:
        """Parse one event position. Raises Ambiguous without ``event_ticker``."""
        f = Fields("EventPosition", data, _EPOS_KEYS)
        zero = Decimal(0)
        return cls(f.s("event_ticker"), f.od("total_cost_dollars") or zero,
                   f.od("total_cost_shares_fp") or zero, f.od("event_exposure_dollars") or zero,
                   f.od("realized_pnl_dollars") or zero, f.od("fees_paid_dollars") or zero)


@dataclass(frozen=True, slots=True)
class Positions:
    """All pages of ``GET /portfolio/positions`` (unsettled positions only)."""

    market_positions: tuple[MarketPosition, ...]
    event_positions: tuple[EventPosition, ...]


_BAL_KEYS = _k("balance", "balance_dollars", "portfolio_value", "updated_ts", "balance_breakdown")


@dataclass(frozen=True, slots=True)
class Balance:
    """Available balance in dollars (``balance_dollars`` when sent, else integer cents / 100)."""

    balance: Decimal
    portfolio_value: Decimal | None
    updated_ts: int | None

    @classmethod
    def parse(cls, data: Any) -> Balance:
        """Parse ``GET /portfolio/balance``. Raises Ambiguous when no balance field is present."""
        f = Fields("GetBalanceResponse", data, _BAL_KEYS)
        has_dollars = data.get("balance_dollars") is not None
        balance = f.d("balance_dollars") if has_dollars else Decimal(f.i("balance")) / 100
        pv = f.oi("portfolio_value")
        return cls(balance, Decimal(pv) / 100 if pv is not None else None, f.oi("updated_ts"))


_SET_KEYS = _k("ticker", "exchange_index", "event_ticker", "market_result", "yes_count_fp",
               "yes_total_cost_dollars", "no_count_fp", "no_total_cost_dollars", "revenue", "settled_time",
               "fee_cost", "value")


@dataclass(frozen=True, slots=True)
class Settlement:
    """A settled market: counts held at settlement, cost, revenue (dollars; wire is integer cents)."""

    ticker: str
    event_ticker: str | None
    market_result: str
    yes_count: Decimal
    yes_total_cost: Decimal
    no_count: Decimal
    no_total_cost: Decimal
    revenue: Decimal
    fee_cost: Decimal
    settled_time: str | None
    value: Decimal | None  # per YES contract, dollars

    @classmethod
    def parse(cls, data: Any) -> Settlement:
        """Parse one settlement. Raises Ambiguous without ticker, result or revenue."""
        f = Fields("Settlement", data, _SET_KEYS)
        zero = Decimal(0)
        value = f.oi("value")
        return cls(f.s("ticker"), f.os("event_ticker"), f.s("market_result"), f.od("yes_count_fp") or zero,
                   f.od("yes_total_cost_dollars") or zero, f.od("no_count_fp") or zero,
                   f.od("no_total_cost_dollars") or zero, Decimal(f.i("revenue")) / 100,
                   f.od("fee_cost") or zero, f.os("settled_time"),
                   Decimal(value) / 100 if value is not None else None)


_MARKET_KEYS = _k(
    "ticker", "event_ticker", "market_type", "title", "subtitle", "yes_sub_title", "no_sub_title",
    "created_time", "updated_time", "open_time", "close_time", "expected_expiration_time", "expiration_time",
    "latest_expiration_time", "settlement_timer_seconds", "status", "yes_bid_dollars", "yes_bid_size_fp",
    "yes_ask_dollars", "yes_ask_size_fp", "no_bid_dollars", "no_ask_dollars", "last_price_dollars",
    "volume_fp", "volume_24h_fp", "result", "can_close_early", "open_interest_fp", "notional_value_dollars",
    "previous_yes_bid_dollars", "previous_yes_ask_dollars", "previous_price_dollars",
    "settlement_value_dollars", "settlement_ts", "settlement_bounds_type", "settlement_floor_dollars",
    "expiration_value", "occurrence_datetime", "fee_waiver_expiration_time", "early_close_condition",
    "strike_type", "floor_strike", "cap_strike", "functional_strike", "custom_strike", "rules_primary",
    "rules_secondary", "mve_collection_ticker", "mve_selected_legs", "primary_participant_key",
    "price_level_structure", "price_ranges", "is_provisional", "exchange_index", "liquidity",
    "liquidity_dollars", "response_price_units", "fractional_trading_enabled",
)


@dataclass(frozen=True, slots=True)
class Market:
    """The market fields the daemon uses (status vocabulary: initialized, active, inactive, closed, …)."""

    ticker: str
    event_ticker: str
    status: str
    market_type: str | None = None
    title: str | None = None
    open_time: str | None = None
    close_time: str | None = None
    yes_bid: Decimal | None = None
    yes_ask: Decimal | None = None
    no_bid: Decimal | None = None
    no_ask: Decimal | None = None
    last_price: Decimal | None = None
    volume: Decimal | None = None
    open_interest: Decimal | None = None
    result: str | None = None
    can_close_early: bool | None = None
    price_level_structure: str | None = None
    price_ranges: tuple[tuple[Decimal, Decimal, Decimal], ...] = ()  # (start, end, step): the tick grid

    @classmethod
    def parse(cls, data: Any) -> Market:
        """Parse a Market. Raises Ambiguous without ticker, event ticker or status."""
        f = Fields("Market", data, _MARKET_KEYS)
        cce = data.get("can_close_early")
        return cls(
            ticker=f.s("ticker"), event_ticker=f.s("event_ticker"), status=f.s("status"),
            market_type=f.os("market_type"), title=f.os("title"), open_time=f.os("open_time"),
            close_time=f.os("close_time"), yes_bid=f.od("yes_bid_dollars"), yes_ask=f.od("yes_ask_dollars"),
            no_bid=f.od("no_bid_dollars"), no_ask=f.od("no_ask_dollars"),
            last_price=f.od("last_price_dollars"), volume=f.od("volume_fp"),
            open_interest=f.od("open_interest_fp"), result=f.os("result"),
            can_close_early=cce if isinstance(cce, bool) else None,
            price_level_structure=f.os("price_level_structure"),
            price_ranges=_price_ranges(data.get("price_ranges")),
        )


def _price_ranges(raw: Any) -> tuple[tuple[Decimal, Decimal, Decimal], ...]:
    """``[{start, end, step}, …]`` as Decimal triples; malformed entries are skipped (the caller falls
    back to the structure name or refuses to trade the market)."""
    out = []
    for item in raw if isinstance(raw, list) else ():
        try:
            out.append((Decimal(item["start"]), Decimal(item["end"]), Decimal(item["step"])))
        except (KeyError, TypeError, ArithmeticError, ValueError):
            continue
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PriceLevel:
    """One book level: ``count`` contracts bid at ``price`` dollars."""

    price: Decimal
    count: Decimal


def parse_levels(kind: str, raw: Any) -> tuple[PriceLevel, ...]:
    """``[[price, count], …]`` as levels sorted ascending by price. Raises Ambiguous when malformed."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise Ambiguous(f"kalshi {kind}: book side is not an array")
    out = []
    for level in raw:
        if not (isinstance(level, list) and len(level) == 2):
            raise Ambiguous(f"kalshi {kind}: malformed level {level!r}")
        try:
            out.append(PriceLevel(to_decimal(level[0]), to_decimal(level[1])))
        except ValueError as exc:
            raise Ambiguous(f"kalshi {kind}: {exc}") from None
    return tuple(sorted(out, key=lambda lv: lv.price))


@dataclass(frozen=True, slots=True)
class Orderbook:
    """Bids on both sides, ascending (best bid last). YES ask = 1 − best NO bid."""

    ticker: str
    yes: tuple[PriceLevel, ...]
    no: tuple[PriceLevel, ...]

    @property
    def best_yes_bid(self) -> Decimal | None:
        """Highest YES bid, or None on an empty side."""
        return self.yes[-1].price if self.yes else None

    @property
    def best_yes_ask(self) -> Decimal | None:
        """Lowest YES ask (1 − best NO bid), or None."""
        return Decimal(1) - self.no[-1].price if self.no else None

    @classmethod
    def parse(cls, ticker: str, data: Any) -> Orderbook:
        """Parse ``{"orderbook_fp": {"yes_dollars": …, "no_dollars": …}}`` (``{"orderbook": {}}`` = empty)."""
        f = Fields("GetMarketOrderbookResponse", data, _k("orderbook_fp", "orderbook"))
        book = data.get("orderbook_fp")
        if book is None:
            book = data.get("orderbook")
        if not isinstance(book, dict):
            raise Ambiguous("kalshi orderbook response without orderbook_fp", body=repr(f.data)[:300])
        note = Fields("Orderbook", book, _k("yes_dollars", "no_dollars", "yes", "no"))
        return cls(ticker, parse_levels("orderbook", note.data.get("yes_dollars")),
                   parse_levels("orderbook", note.data.get("no_dollars")))


@dataclass(frozen=True, slots=True)
class ExchangeStatus:
    """Whether the exchange accepts anything (``exchange_active``) and whether trading is open."""

    exchange_active: bool
    trading_active: bool
    exchange_estimated_resume_time: str | None = None

    @classmethod
    def parse(cls, data: Any) -> ExchangeStatus:
        """Parse ``GET /exchange/status``. Raises Ambiguous when either flag is missing."""
        f = Fields("ExchangeStatus", data, _k("exchange_active", "trading_active",
                                              "exchange_estimated_resume_time",
                                              "intra_exchange_transfers_active", "exchange_index_statuses"))
        return cls(f.b("exchange_active"), f.b("trading_active"), f.os("exchange_estimated_resume_time"))


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A scheduled maintenance window (RFC 3339 strings as sent)."""

    start: str
    end: str


@dataclass(frozen=True, slots=True)
class ExchangeSchedule:
    """``GET /exchange/schedule``: maintenance windows (standard hours kept only as a count)."""

    maintenance_windows: tuple[MaintenanceWindow, ...]
    standard_hours_count: int

    @classmethod
    def parse(cls, data: Any) -> ExchangeSchedule:
        """Parse the schedule. Raises Ambiguous without the ``schedule`` object."""
        f = Fields("GetExchangeScheduleResponse", data, _k("schedule"))
        s = Fields("Schedule", f.raw("schedule"), _k("standard_hours", "maintenance_windows"))
        windows = []
        for w in s.lst("maintenance_windows", required=False):
            wf = Fields("MaintenanceWindow", w, _k("start_datetime", "end_datetime"))
            windows.append(MaintenanceWindow(wf.s("start_datetime"), wf.s("end_datetime")))
        return cls(tuple(windows), len(s.lst("standard_hours", required=False)))


_GROUP_KEYS = _k("id", "order_group_id", "contracts_limit", "contracts_limit_fp", "is_auto_cancel_enabled",
                 "exchange_index", "orders", "subaccount", "status")


@dataclass(frozen=True, slots=True)
class OrderGroup:
    """An order group: exchange-side circuit breaker over a rolling 15 s matched-contracts window."""

    id: str
    contracts_limit: Decimal | None
    is_auto_cancel_enabled: bool | None
    exchange_index: int | None = None

    @classmethod
    def parse(cls, data: Any, group_id: str | None = None) -> OrderGroup:
        """Parse an order group (``id`` may come from the path). Raises Ambiguous without an id."""
        f = Fields("OrderGroup", data, _GROUP_KEYS)
        gid = f.os("id") or f.os("order_group_id") or group_id
        if not gid:
            raise Ambiguous("kalshi order group without id")
        limit = f.od("contracts_limit_fp")
        if limit is None:
            limit = f.od("contracts_limit")
        auto = data.get("is_auto_cancel_enabled")
        return cls(gid, limit, auto if isinstance(auto, bool) else None, f.oi("exchange_index"))


@dataclass(frozen=True, slots=True)
class BucketLimit:
    """One token bucket: ``refill_rate`` tokens per second, ``bucket_capacity`` tokens."""

    refill_rate: Decimal
    bucket_capacity: Decimal


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """``GET /account/limits``: the member's read and write token buckets."""

    usage_tier: str | None
    read: BucketLimit
    write: BucketLimit

    @classmethod
    def parse(cls, data: Any) -> AccountLimits:
        """Parse the limits. Raises Ambiguous when a bucket is missing or malformed."""
        f = Fields("GetAccountLimitsResponse", data, _k("usage_tier", "read", "write", "grants"))

        def bucket(name: str) -> BucketLimit:
            b = Fields(f"AccountLimits.{name}", f.raw(name), _k("refill_rate", "bucket_capacity"))
            return BucketLimit(b.d("refill_rate"), b.d("bucket_capacity"))

        return cls(f.os("usage_tier"), bucket("read"), bucket("write"))
