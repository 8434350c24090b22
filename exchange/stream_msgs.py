"""Kalshi WebSocket messages (docs/kalshi.md §5) as frozen dataclasses, and the parser from JSON frames."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_guard.core.errors import Ambiguous
from kalshi_guard.exchange.wire_base import BookSide, Fields, OrderStatus, OutcomeSide, book_of
from kalshi_guard.exchange.wire_reads import PriceLevel, parse_levels


@dataclass(frozen=True, slots=True)
class Subscribed:
    """Ack of a subscribe: the server's ``sid`` for one channel."""

    id: int | None
    channel: str
    sid: int


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """Ack of an unsubscribe."""

    id: int | None
    sid: int | None


@dataclass(frozen=True, slots=True)
class CommandOk:
    """``ok`` answer to ``update_subscription`` (``market_tickers`` as now subscribed, if sent)."""

    id: int | None
    sid: int | None
    market_tickers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubscriptionList:
    """``ok`` answer to ``list_subscriptions``: (channel, sid) pairs."""

    id: int | None
    subscriptions: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class StreamError:
    """An ``error`` frame; codes 10 and 25 are terminal for the subscription (resubscribe)."""

    id: int | None
    code: int | None
    message: str
    sid: int | None = None


@dataclass(frozen=True, slots=True)
class StreamFill:
    """A private ``fill``: keyed by ``trade_id``; ``price`` is the YES price; no ``seq`` on this channel."""

    trade_id: str
    order_id: str
    ticker: str
    book_side: BookSide
    count: Decimal
    price: Decimal
    fee: Decimal
    is_taker: bool
    post_position: Decimal | None
    client_order_id: str | None
    ts_ms: int | None


@dataclass(frozen=True, slots=True)
class UserOrder:
    """A private ``user_order`` update (created, filled, cancelled, amended)."""

    order_id: str
    client_order_id: str
    ticker: str
    status: OrderStatus
    book_side: BookSide
    yes_price: Decimal
    fill_count: Decimal
    remaining_count: Decimal
    initial_count: Decimal
    fees: Decimal
    last_update_reason: str | None
    ts_ms: int | None


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A private ``market_position``: the net signed position after a trade or settlement."""

    ticker: str
    position: Decimal
    position_cost: Decimal | None
    realized_pnl: Decimal | None
    fees_paid: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderbookSnapshot:
    """Full book of one market (bids, ascending); the first message of an ``orderbook_delta`` sid."""

    sid: int
    seq: int | None
    ticker: str
    yes: tuple[PriceLevel, ...]
    no: tuple[PriceLevel, ...]


@dataclass(frozen=True, slots=True)
class OrderbookDelta:
    """A signed change of the bid size at one price of one side (``yes``/``no`` bids)."""

    sid: int
    seq: int | None
    ticker: str
    side: OutcomeSide
    price: Decimal
    delta: Decimal
    client_order_id: str | None
    ts_ms: int | None


@dataclass(frozen=True, slots=True)
class TickerUpdate:
    """A ``ticker`` update (top of book, last price)."""

    ticker: str
    price: Decimal | None
    yes_bid: Decimal | None
    yes_ask: Decimal | None
    volume: Decimal | None
    ts_ms: int | None


@dataclass(frozen=True, slots=True)
class MarketLifecycle:
    """``market_lifecycle_v2``: created, activated, deactivated, close_date_updated, determined, settled…"""

    sid: int | None
    seq: int | None
    ticker: str
    event_type: str
    close_ts: int | None
    result: str | None
    settlement_value: Decimal | None
    is_deactivated: bool | None


@dataclass(frozen=True, slots=True)
class OrderGroupUpdate:
    """``order_group_updates``: created, triggered, reset, deleted, limit_updated."""

    sid: int | None
    seq: int | None
    event_type: str
    order_group_id: str
    contracts_limit: Decimal | None


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A frame type this client does not model (passed on, logged once per type)."""

    type: str
    sid: int | None
    seq: int | None


StreamMessage = (Subscribed | Unsubscribed | CommandOk | SubscriptionList | StreamError | StreamFill
                 | UserOrder | PositionUpdate | OrderbookSnapshot | OrderbookDelta | TickerUpdate
                 | MarketLifecycle | OrderGroupUpdate | UnknownMessage)


def _side(f: Fields) -> BookSide:
    if f.data.get("book_side") is not None:
        side: BookSide = f.enum("book_side", BookSide)
        return side
    if f.data.get("outcome_side") is not None:
        return book_of(f.enum("outcome_side", OutcomeSide))
    if isinstance(f.data.get("is_yes"), bool):
        return BookSide.BID if f.data["is_yes"] else BookSide.ASK
    raise Ambiguous(f"kalshi {f.kind}: no book_side/outcome_side")


def _status(raw: str) -> OrderStatus:
    try:
        return OrderStatus(raw)
    except ValueError:
        return OrderStatus.UNKNOWN


def parse_stream_message(frame: Any) -> StreamMessage:
    """Parse one decoded JSON frame. Raises Ambiguous for a frame missing what its type requires."""
    top = Fields("ws frame", frame)
    mtype = top.s("type")
    sid, seq, cid = top.oi("sid"), top.oi("seq"), top.oi("id")
    msg = frame.get("msg")
    if mtype == "subscribed":
        m = Fields("ws subscribed", msg)
        return Subscribed(cid, m.s("channel"), m.i("sid"))
    if mtype == "unsubscribed":
        return Unsubscribed(cid, sid)
    if mtype == "ok":
        if isinstance(msg, list):
            subs = tuple((Fields("ws sub", x).s("channel"), Fields("ws sub", x).i("sid")) for x in msg)
            return SubscriptionList(cid, subs)
        tickers = msg.get("market_tickers") if isinstance(msg, dict) else None
        return CommandOk(cid, sid, tuple(tickers) if isinstance(tickers, list) else ())
    if mtype == "error":
        m = Fields("ws error", msg if isinstance(msg, dict) else {})
        return StreamError(cid, m.oi("code"), m.os("msg", "") or "", sid if sid is not None else m.oi("sid"))
    if mtype == "fill":
        m = Fields("ws fill", msg)
        return StreamFill(m.s("trade_id"), m.s("order_id"), m.os("market_ticker") or m.s("ticker"), _side(m),
                          m.d("count_fp"), m.d("yes_price_dollars"), m.od("fee_cost") or Decimal(0),
                          m.b("is_taker", False), m.od("post_position_fp"), m.os("client_order_id"),
                          m.oi("ts_ms"))
    if mtype == "user_order":
        m = Fields("ws user_order", msg)
        fees = (m.od("taker_fees_dollars") or Decimal(0)) + (m.od("maker_fees_dollars") or Decimal(0))
        return UserOrder(m.s("order_id"), m.os("client_order_id", "") or "", m.s("ticker"),
                         _status(m.s("status")), _side(m), m.d("yes_price_dollars"), m.d("fill_count_fp"),
                         m.d("remaining_count_fp"), m.d("initial_count_fp"), fees, m.os("last_update_reason"),
                         m.oi("last_updated_ts_ms") or m.oi("created_ts_ms"))
    if mtype == "market_position":
        m = Fields("ws market_position", msg)
        return PositionUpdate(m.s("market_ticker"), m.d("position_fp"), m.od("position_cost_dollars"),
                              m.od("realized_pnl_dollars"), m.od("fees_paid_dollars"))
    if mtype == "orderbook_snapshot":
        m = Fields("ws orderbook_snapshot", msg)
        return OrderbookSnapshot(top.i("sid"), seq, m.s("market_ticker"),
                                 parse_levels("ws snapshot", m.data.get("yes_dollars_fp")),
                                 parse_levels("ws snapshot", m.data.get("no_dollars_fp")))
    if mtype == "orderbook_delta":
        m = Fields("ws orderbook_delta", msg)
        return OrderbookDelta(top.i("sid"), seq, m.s("market_ticker"), m.enum("side", OutcomeSide),
                              m.d("price_dollars"), m.d("delta_fp"), m.os("client_order_id"), m.oi("ts_ms"))
    if mtype == "ticker":
        m = Fields("ws ticker", msg)
        return TickerUpdate(m.s("market_ticker"), m.od("price_dollars"), m.od("yes_bid_dollars"),
                            m.od("yes_ask_dollars"), m.od("volume_fp"), m.oi("ts_ms"))
    if mtype == "market_lifecycle_v2":
        m = Fields("ws market_lifecycle_v2", msg)
        deact = m.data.get("is_deactivated")
        return MarketLifecycle(sid, seq, m.s("market_ticker"), m.s("event_type"), m.oi("close_ts"),
                               m.os("result"), m.od("settlement_value"),
                               deact if isinstance(deact, bool) else None)
    if mtype == "order_group_updates":
        m = Fields("ws order_group_updates", msg)
        return OrderGroupUpdate(sid, seq, m.s("event_type"), m.s("order_group_id"), m.od("contracts_limit_fp"))
    return UnknownMessage(mtype, sid, seq)
