"""The flatten of a stop: close every open position on the exchange with reduce-only IOC orders.

Positions are read from the exchange (the truth), never assumed. For each attempt ``k`` of ``attempts``,
each open position gets one reduce-only immediate-or-cancel order priced from the book: a long YES
position sells YES at the best YES bid minus ``max_slippage × k / attempts``, a long NO position buys YES at
the best YES ask plus as much (prices kept within 0.01..0.99) — so the last attempt reaches the configured
slippage and never beyond it. An empty side sends nothing (there is no one to sell to). The orders pass the
gate as ``FLATTEN`` through the one send point (``actors.send_point``), outside the order group (a triggered
group refuses its own orders). Each order is written ahead (``INTENT``, intent ``flatten``) and its fills
booked from the exchange's fill records (exactly once by ``trade_id``). After each attempt the positions
are read back from the exchange; the flatten ends when none is open or the attempts are spent.

Failures: an order refused or failed is recorded and the next attempt tries again; a failed read of the
positions ends the flatten as not finished (what stays open is then unknown, and said so).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from loguru import logger

from kalshi_guard.actors.send_point import send_create
from kalshi_guard.core.errors import Ambiguous, ExchangeError, GateClosedError, LedgerError
from kalshi_guard.core.gate import OrderIntent, TradingGate
from kalshi_guard.exchange.buckets import Priority
from kalshi_guard.exchange.wire import BookSide, CreateOrderRequest, TimeInForce
from kalshi_guard.ledger import OrderStatus
from kalshi_guard.ledger.records import FillRecord

CENT = Decimal("0.01")
MIN_PRICE, MAX_PRICE = Decimal("0.01"), Decimal("0.99")
log = logger.bind(actor="killswitch")


@dataclass(frozen=True, slots=True)
class FlattenResult:
    """What the flatten did: contracts closed per ticker, what stays open (None = unknown: the positions
    could not be read), the orders sent, and problems in words."""

    closed: tuple[tuple[str, Decimal], ...]
    remaining: tuple[tuple[str, Decimal], ...] | None
    orders: int
    problems: tuple[str, ...]

    @property
    def flat(self) -> bool:
        """Every position is closed, as read back from the exchange."""
        return self.remaining is not None and not self.remaining


def exit_price(net: Decimal, bid: Decimal | None, ask: Decimal | None,
               offset: Decimal) -> tuple[BookSide, Decimal] | None:
    """The side and YES price of the order that closes ``net`` contracts at ``offset`` beyond the book, or
    None when the side it must hit is empty."""
    if net > 0:
        if bid is None:
            return None
        return BookSide.ASK, max(MIN_PRICE, (bid - offset).quantize(CENT, rounding="ROUND_FLOOR"))
    if ask is None:
        return None
    return BookSide.BID, min(MAX_PRICE, (ask + offset).quantize(CENT, rounding="ROUND_CEILING"))


def open_positions(client: Any) -> dict[str, Decimal]:
    """Nonzero positions on the exchange. Raises ExchangeError when they cannot be read."""
    return {p.ticker: p.position for p in client.get_positions().market_positions if p.position != 0}


def flatten(gate: TradingGate, client: Any, ledger: Any, *, max_slippage: Decimal, attempts: int,
            clock: Callable[[], float] = time.time) -> FlattenResult:
    """Run the flatten (see the module docstring). Never raises; failures are in the result."""
    problems: list[str] = []
    try:
        start = open_positions(client)
    except ExchangeError as exc:
        return FlattenResult((), None, 0, (f"positions unreadable: {type(exc).__name__}",))
    current = dict(start)
    sent = 0
    for k in range(1, attempts + 1):
        if not current:
            break
        offset = max_slippage * k / attempts
        books = _quotes(client, sorted(current), problems)
        started = int(clock()) - 1
        orders: dict[str, tuple[str, str]] = {}  # exchange order id -> (client order id, ticker)
        for ticker, net in sorted(current.items()):
            if ticker not in books:
                continue
            bid, ask = books[ticker]
            priced = exit_price(net, bid, ask, offset)
            if priced is None:
                problems.append(f"{ticker}: no liquidity on the side that closes {net}")
                continue
            side, price = priced
            placed = _send(gate, client, ledger, ticker, side, abs(net), price, problems)
            sent += placed is not None
            if placed is not None and placed[1] is not None:
                orders[placed[1]] = (placed[0], ticker)
        _book(client, ledger, orders, started, clock)
        try:
            current = open_positions(client)
        except ExchangeError as exc:
            problems.append(f"positions unreadable after attempt {k}: {type(exc).__name__}")
            return _result(start, None, sent, problems)
    return _result(start, current, sent, problems)


def _result(start: dict[str, Decimal], now: dict[str, Decimal] | None, sent: int, problems: list[str]) -> FlattenResult:
    closed = tuple((t, abs(n) - abs((now or {}).get(t, Decimal(0)))) for t, n in sorted(start.items())
                   if now is not None)
    remaining = None if now is None else tuple(sorted(now.items()))
    unique = tuple(dict.fromkeys(problems))
    return FlattenResult(tuple((t, c) for t, c in closed if c > 0), remaining, sent, unique)


def _quotes(client: Any, tickers: list[str], problems: list[str]) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """Best YES bid and ask per ticker (None = that side is empty): one markets read for all of them, else
    one order book read each. A ticker whose quotes cannot be read is left out (and said so)."""
    try:
        markets = {m.ticker: m for m in client.get_markets(tickers=tickers)}
    except ExchangeError:
        markets = {}
    out: dict[str, tuple[Decimal | None, Decimal | None]] = {}
    for ticker in tickers:
        m = markets.get(ticker)
        if m is not None and m.yes_bid is not None and m.yes_ask is not None:
            out[ticker] = (m.yes_bid if m.yes_bid > 0 else None, m.yes_ask if m.yes_ask < 1 else None)
            continue
        try:
            book = client.get_orderbook(ticker)
        except ExchangeError as exc:
            problems.append(f"{ticker}: book unreadable ({type(exc).__name__})")
            continue
        out[ticker] = (book.best_yes_bid, book.best_yes_ask)
    return out


def _send(gate: TradingGate, client: Any, ledger: Any, ticker: str, side: BookSide, count: Decimal, price: Decimal,
          problems: list[str]) -> tuple[str, str | None] | None:
    """Write ahead, send one reduce-only IOC through the send point. Returns (client order id, exchange order
    id or None when the outcome is unknown), or None when nothing was sent."""
    coid = str(uuid.uuid4())
    if ledger is not None:
        try:
            ledger.insert_intents([{
                "client_order_id": coid, "ticker": ticker, "event_ticker": None, "book_side": side.value,
                "outcome": "yes" if side is BookSide.ASK else "no", "action": "sell", "count": count, "price": price,
                "time_in_force": TimeInForce.IMMEDIATE_OR_CANCEL.value, "reference_price": None,
                "intent": OrderIntent.FLATTEN.value, "batch_id": None}])
        except LedgerError as exc:
            log.error("flatten {}: write-ahead failed ({!r}); sending anyway", ticker, exc)
    request = CreateOrderRequest(ticker, side, count, price, client_order_id=coid,
                                 time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL, reduce_only=True)
    try:
        result = send_create(gate, client, OrderIntent.FLATTEN, request, priority=Priority.URGENT)
    except GateClosedError as exc:
        problems.append(f"{ticker}: gate refused the flatten ({exc.state})")
        _transition(ledger, coid, OrderStatus.REJECTED, f"GATE_{exc.state}")
        return None
    except ExchangeError as exc:
        problems.append(f"{ticker}: flatten order failed ({type(exc).__name__}: {str(exc)[:120]})")
        _transition(ledger, coid, OrderStatus.UNKNOWN if isinstance(exc, Ambiguous) else OrderStatus.REJECTED,
                    f"flatten: {type(exc).__name__}")
        return (coid, None) if isinstance(exc, Ambiguous) else None
    return coid, result.order_id


def _book(client: Any, ledger: Any, orders: dict[str, tuple[str, str]], since: int,
          clock: Callable[[], float]) -> None:
    """Book the fills of this attempt's orders (one fills read) and settle their ledger rows."""
    if ledger is None or not orders:
        return
    try:
        fills = [f for f in client.get_fills(min_ts=since) if f.order_id in orders]
        records = [FillRecord(f.trade_id, orders[f.order_id][0], f.order_id, orders[f.order_id][1],
                              f.book_side.value, f.count, f.price, f.fee, f.is_taker, clock()) for f in fills]
        if records:
            ledger.book_fills(records)
        for oid, (coid, _ticker) in orders.items():  # booking moved filled ones on; an IOC's rest is cancelled
            record = ledger.get_order(coid)
            if record is not None and not record.status.is_final:
                _transition(ledger, coid, OrderStatus.CANCELED, "flatten IOC: the rest cancelled", order_id=oid)
    except (ExchangeError, LedgerError) as exc:
        log.error("flatten: fills not booked ({!r}); reconciliation will", exc)


def _transition(ledger: Any, coid: str, status: OrderStatus, reason: str, **kw: Any) -> None:
    if ledger is None:
        return
    try:
        ledger.transition(coid, status, reason=reason, **kw)
    except LedgerError as exc:
        log.error("flatten: order {} not moved to {} ({!r})", coid, status.value, exc)
