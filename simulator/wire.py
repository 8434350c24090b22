"""Kalshi wire shapes the simulator emits (§6.3 names, fixed-point strings) and the API error type."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kalshi_guard.simulator.accounts import ONE, Fill, Order, Position, Settlement
from kalshi_guard.simulator.markets import Market

Q2 = Decimal("0.01")
Q4 = Decimal("0.0001")
Q6 = Decimal("0.000001")
TICK = Decimal("0.01")  # linear_cent price grid


class ApiError(Exception):
    """A Kalshi error answer: HTTP ``status`` and the nested envelope's ``code``/``message``."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        super().__init__(f"{status} {code}: {message}")

    def body(self) -> dict[str, Any]:
        """The nested error envelope ``{"error": {code, message, details, service}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details,
                          "service": "exchange"}}


def fp(count: Decimal) -> str:
    """A count as a 2-dp fixed-point string."""
    return f"{count.quantize(Q2):.2f}"


def usd(amount: Decimal) -> str:
    """Dollars as a 4-dp fixed-point string."""
    return f"{amount.quantize(Q4):.4f}"


def usd6(amount: Decimal) -> str:
    """Dollars (fees, costs) as a 6-dp fixed-point string."""
    return f"{amount.quantize(Q6):.6f}"


def rfc3339(ts: float | None) -> str | None:
    """Unix seconds -> RFC 3339 UTC with a ``Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_count(value: Any, name: str = "count") -> Decimal:
    """A positive fixed-point count string with ≤ 2 decimals. Raises ApiError 400 otherwise."""
    if not isinstance(value, str):
        raise ApiError(400, "invalid_parameters", f"{name} must be a fixed-point string")
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ApiError(400, "invalid_parameters", f"{name} is not a number") from None
    if not d.is_finite() or d <= 0 or d != d.quantize(Q2):
        raise ApiError(400, "invalid_order_size", f"{name} must be > 0 with at most 2 decimals")
    return d


def parse_price(value: Any, name: str = "price") -> Decimal:
    """A YES-scale price string strictly inside (0, 1) on the $0.01 grid. Raises ApiError 400 otherwise."""
    if not isinstance(value, str):
        raise ApiError(400, "invalid_parameters", f"{name} must be a fixed-point dollar string")
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ApiError(400, "invalid_parameters", f"{name} is not a number") from None
    if not d.is_finite() or not Decimal(0) < d < ONE or d != d.quantize(TICK):
        raise ApiError(400, "invalid_order", f"{name} must be between 0.01 and 0.99 on a $0.01 tick")
    return d


def order_json(o: Order, user_id: str) -> dict[str, Any]:
    """REST ``Order`` object (§6.3)."""
    return {
        "order_id": o.order_id, "user_id": user_id, "client_order_id": o.client_order_id,
        "ticker": o.ticker, "outcome_side": o.outcome_side, "book_side": o.book_side,
        "side": o.outcome_side, "action": "buy", "type": "limit", "status": o.status.value,
        "yes_price_dollars": usd(o.price), "no_price_dollars": usd(ONE - o.price),
        "fill_count_fp": fp(o.filled), "remaining_count_fp": fp(o.remaining),
        "initial_count_fp": fp(o.initial),
        "taker_fill_cost_dollars": usd(o.taker_fill_cost), "maker_fill_cost_dollars": usd(o.maker_fill_cost),
        "taker_fees_dollars": usd(o.taker_fees), "maker_fees_dollars": usd(o.maker_fees),
        "expiration_time": rfc3339(o.expiration_ts) if o.expiration_ts else None,
        "created_time": rfc3339(o.created_ts), "last_update_time": rfc3339(o.updated_ts or o.created_ts),
        "self_trade_prevention_type": o.stp, "order_group_id": o.order_group_id,
        "cancel_order_on_pause": o.cancel_on_pause, "subaccount_number": o.subaccount, "exchange_index": 0,
    }


def user_order_msg(o: Order, user_id: str) -> dict[str, Any]:
    """WS ``user_order`` payload (latest AsyncAPI)."""
    msg = {
        "order_id": o.order_id, "user_id": user_id, "ticker": o.ticker, "exchange_index": 0,
        "status": o.status.value, "outcome_side": o.outcome_side, "book_side": o.book_side,
        "side": o.outcome_side, "is_yes": o.book_side == "bid", "yes_price_dollars": usd(o.price),
        "fill_count_fp": fp(o.filled), "remaining_count_fp": fp(o.remaining), "initial_count_fp": fp(o.initial),
        "taker_fill_cost_dollars": usd(o.taker_fill_cost), "maker_fill_cost_dollars": usd(o.maker_fill_cost),
        "taker_fees_dollars": usd(o.taker_fees), "maker_fees_dollars": usd(o.maker_fees),
        "client_order_id": o.client_order_id, "order_group_id": o.order_group_id,
        "self_trade_prevention_type": o.stp, "created_ts_ms": int(o.created_ts * 1000),
        "last_updated_ts_ms": int((o.updated_ts or o.created_ts) * 1000),
        "expiration_ts_ms": o.expiration_ts * 1000 if o.expiration_ts else None,
        "last_update_reason": o.last_update_reason, "subaccount_number": o.subaccount,
        "created_time": rfc3339(o.created_ts), "last_update_time": rfc3339(o.updated_ts or o.created_ts),
    }
    if o.expiration_ts:
        msg["expiration_time"] = rfc3339(o.expiration_ts)
    return {k: v for k, v in msg.items() if v is not None}  # optional fields are omitted, not null


def fill_json(f: Fill) -> dict[str, Any]:
    """REST ``Fill`` object (§6.3; no ``client_order_id`` since 30 Mar 2026)."""
    outcome = "yes" if f.book_side == "bid" else "no"
    return {
        "fill_id": f.fill_id, "trade_id": f.fill_id, "order_id": f.order_id, "exchange_index": 0,
        "ticker": f.ticker, "market_ticker": f.ticker, "outcome_side": outcome, "book_side": f.book_side,
        "side": outcome, "action": "buy", "count_fp": fp(f.count), "yes_price_dollars": usd(f.yes_price),
        "no_price_dollars": usd(ONE - f.yes_price), "is_taker": f.is_taker, "fee_cost": usd6(f.fee),
        "created_time": rfc3339(f.ts), "ts": int(f.ts), "subaccount_number": 0,
    }


def fill_msg(f: Fill) -> dict[str, Any]:
    """WS ``fill`` payload (latest AsyncAPI; keeps ``client_order_id``)."""
    outcome = "yes" if f.book_side == "bid" else "no"
    return {
        "trade_id": f.fill_id, "order_id": f.order_id, "client_order_id": f.client_order_id,
        "market_ticker": f.ticker, "exchange_index": 0, "is_taker": f.is_taker, "outcome_side": outcome,
        "book_side": f.book_side, "side": outcome, "action": "buy", "purchased_side": outcome,
        "yes_price_dollars": usd(f.yes_price), "count_fp": fp(f.count), "fee_cost": usd6(f.fee),
        "post_position_fp": fp(f.post_position), "ts_ms": int(f.ts * 1000), "ts": int(f.ts), "subaccount": 0,
    }


def position_json(p: Position) -> dict[str, Any]:
    """REST ``MarketPosition`` (§6.3)."""
    return {
        "ticker": p.ticker, "exchange_index": 0, "total_traded_dollars": usd(p.total_traded),
        "position_fp": fp(p.position), "market_exposure_dollars": usd(p.cost),
        "realized_pnl_dollars": usd(p.realized_pnl), "fees_paid_dollars": usd(p.fees_paid),
        "last_updated_ts": rfc3339(p.updated_ts),
    }


def position_msg(p: Position, user_id: str) -> dict[str, Any]:
    """WS ``market_position`` payload."""
    return {
        "user_id": user_id, "market_ticker": p.ticker, "position_fp": fp(p.position),
        "position_cost_dollars": usd(p.cost), "realized_pnl_dollars": usd(p.realized_pnl),
        "fees_paid_dollars": usd(p.fees_paid), "position_fee_cost_dollars": usd(p.fees_paid),
        "volume_fp": fp(p.volume), "subaccount": 0,
    }


def settlement_json(s: Settlement) -> dict[str, Any]:
    """REST ``Settlement`` (§6.3)."""
    return {
        "ticker": s.ticker, "exchange_index": 0, "event_ticker": s.event_ticker, "market_result": s.result,
        "yes_count_fp": fp(s.yes_count), "yes_total_cost_dollars": usd(s.yes_cost),
        "no_count_fp": fp(s.no_count), "no_total_cost_dollars": usd(s.no_cost),
        "revenue": s.revenue_cents, "settled_time": rfc3339(s.ts), "fee_cost": usd6(Decimal(0)),
        "value": 100 if s.result == "yes" else 0,
    }


def market_json(m: Market, best_bid: Decimal | None, best_ask: Decimal | None,
                bid_size: Decimal, ask_size: Decimal) -> dict[str, Any]:
    """REST ``Market`` (§6.3 required fields on a linear-cent binary market)."""
    bid = best_bid if best_bid is not None else Decimal(0)
    ask = best_ask if best_ask is not None else ONE
    settle_value = None
    if m.result in ("yes", "no"):
        settle_value = usd(ONE if m.result == "yes" else Decimal(0))
    return {
        "ticker": m.ticker, "event_ticker": m.event_ticker, "market_type": "binary", "title": m.title,
        "subtitle": "", "yes_sub_title": "Yes", "no_sub_title": "No",
        "created_time": rfc3339(m.created_ts), "updated_time": rfc3339(m.updated_ts or m.created_ts),
        "open_time": rfc3339(m.open_ts), "close_time": rfc3339(m.close_ts),
        "expected_expiration_time": rfc3339(m.close_ts), "expiration_time": rfc3339(m.close_ts),
        "latest_expiration_time": rfc3339(m.close_ts + 7 * 86_400), "settlement_timer_seconds": 0,
        "status": m.status.value, "yes_bid_dollars": usd(bid), "yes_bid_size_fp": fp(bid_size),
        "yes_ask_dollars": usd(ask), "yes_ask_size_fp": fp(ask_size), "no_bid_dollars": usd(ONE - ask),
        "no_ask_dollars": usd(ONE - bid), "last_price_dollars": usd(m.last_price), "volume_fp": fp(m.volume),
        "volume_24h_fp": fp(m.volume), "result": m.result, "can_close_early": True,
        "open_interest_fp": fp(m.open_interest), "notional_value_dollars": usd(ONE),
        "previous_yes_bid_dollars": usd(bid), "previous_yes_ask_dollars": usd(ask),
        "previous_price_dollars": usd(m.last_price), "settlement_value_dollars": settle_value,
        "settlement_ts": rfc3339(m.settled_ts), "settlement_bounds_type": "default", "expiration_value": "",
        "rules_primary": m.title, "rules_secondary": "", "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}], "exchange_index": 0,
        "liquidity_dollars": "0.0000", "fractional_trading_enabled": True,
    }
