"""The simulator's thread-safe exchange: accounts, matching, V2 order semantics, events and journaling."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_guard.exchange.fees import max_taker_fee, trade_fee
from kalshi_guard.simulator.accounts import DEFAULT_ACCOUNT, MAKER_ACCOUNT, ONE, ZERO, Account, Fill, Order, OrderStatus
from kalshi_guard.simulator.amend import AmendMixin
from kalshi_guard.simulator.book import Book
from kalshi_guard.simulator.catalog import CatalogMixin, new_tape
from kalshi_guard.simulator.events import EventsMixin
from kalshi_guard.simulator.faults import FaultPlan
from kalshi_guard.simulator.groups import GroupsMixin
from kalshi_guard.simulator.history import HistoryMixin
from kalshi_guard.simulator.lifecycle import LifecycleMixin
from kalshi_guard.simulator.markets import DEFAULT_MARKETS, Market, MarketSpec
from kalshi_guard.simulator.queries import QueriesMixin
from kalshi_guard.simulator.wire import ApiError, fp, parse_count, parse_price, usd, usd6

TIFS = ("fill_or_kill", "good_till_canceled", "immediate_or_cancel")
STPS = ("taker_at_cross", "maker")


@dataclass(frozen=True, slots=True)
class Event:
    """Something the WebSocket channels publish: ``kind`` is the msg type, ``account`` set on private ones."""

    kind: str
    payload: dict[str, Any]
    account: str | None = None
    ticker: str | None = None


class Exchange(AmendMixin, EventsMixin, LifecycleMixin, GroupsMixin, QueriesMixin, CatalogMixin, HistoryMixin):
    """A Kalshi-like exchange. Every public method takes the one lock; listeners are called under it.

    Failures are :class:`simulator.wire.ApiError` carrying Kalshi's status and ``error.code``.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        markets: Iterable[MarketSpec] = DEFAULT_MARKETS,
        starting_balance: Decimal = Decimal("10000"),
        clock: Callable[[], float] = time.time,
        journal: Any = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = FaultPlan(seed)
        self.starting_balance = starting_balance
        self.markets: dict[str, Market] = {}
        self.books: dict[str, Book] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.user_ids: dict[str, str] = {}
        self.trading_active = True
        self.exchange_active = True
        self.listeners: list[Callable[[Event], None]] = []
        self.tape = new_tape()
        self.journal = journal
        self._dirty: dict[tuple[str, str], Any] = {}
        self._created = 0
        self._init_groups()
        now = clock()
        for spec in markets:
            self.add_market(spec, now)
        self.account(DEFAULT_ACCOUNT)
        self.accounts[MAKER_ACCOUNT] = Account(MAKER_ACCOUNT, Decimal(0), unlimited=True)

    # ---- plumbing -------------------------------------------------------------------------------

    def add_market(self, spec: MarketSpec, now: float | None = None) -> Market:
        """Create an active market from ``spec`` (replaces nothing: an existing ticker is returned)."""
        with self.lock:
            if spec.ticker in self.markets:
                return self.markets[spec.ticker]
            now = self.clock() if now is None else now
            m = Market(spec.ticker, spec.event_ticker, spec.title, open_ts=now - 3600,
                       close_ts=now + spec.close_in_s, created_ts=now - 3600, last_price=spec.start_mid)
            self.markets[spec.ticker] = m
            self.books[spec.ticker] = Book(spec.ticker)
            return m

    def account(self, name: str) -> Account:
        """The account ``name`` (created with the starting balance on first use)."""
        with self.lock:
            acct = self.accounts.get(name)
            if acct is None:
                acct = self.accounts[name] = Account(name, self.starting_balance)
                self.user_ids[name] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kalshi-guard-sim/user/{name}"))
                self._mark("acct", name, acct)
            return acct

    def user_id(self, name: str) -> str:
        """The ``user_id`` string shown on the account's orders."""
        return self.user_ids.get(name) or str(uuid.uuid5(uuid.NAMESPACE_URL, f"kalshi-guard-sim/user/{name}"))

    def created_order_count(self) -> int:
        """Orders accepted since start (benches)."""
        return self._created

    def _emit(self, kind: str, payload: dict[str, Any], account: str | None = None,
              ticker: str | None = None) -> None:
        if account == MAKER_ACCOUNT:
            return
        ev = Event(kind, payload, account, ticker)
        for listener in self.listeners:
            listener(ev)

    def _mark(self, kind: str, key: str, obj: Any) -> None:
        if self.journal is not None:
            self._dirty[(kind, key)] = obj

    def _commit(self) -> None:
        if self.journal is not None and self._dirty:
            items, self._dirty = self._dirty, {}
            self.journal.write(items)

    def _market(self, ticker: Any) -> Market:
        m = self.markets.get(ticker) if isinstance(ticker, str) else None
        if m is None:
            raise ApiError(404, "market_not_found", f"market {ticker!r} not found")
        return m

    def _check_exchange(self, *, placing: bool) -> None:
        if not self.exchange_active:
            raise ApiError(503, "exchange_paused", "the exchange is paused")
        if placing and not self.trading_active:
            raise ApiError(409, "trading_is_paused", "trading is paused")

    def _check_market(self, m: Market, *, placing: bool) -> None:
        if m.closed:
            raise ApiError(400, "MARKET_INACTIVE", f"market {m.ticker} is closed")
        if placing and not m.tradable:
            raise ApiError(409, "trading_is_paused", f"trading is paused on {m.ticker}")

    def _own_order(self, account: str, order_id: str) -> Order:
        o = self.orders.get(order_id)
        if o is None or o.account != account:
            raise ApiError(404, "not_found", "order not found")
        return o

    def place_maker(self, ticker: str, side: str, price: Decimal, count: Decimal) -> None:
        """A synthetic maker's GTC order (no balance checks); it may trade against resting orders."""
        with self.lock:
            now = self.clock()
            o = Order(str(uuid.uuid4()), MAKER_ACCOUNT, "", ticker, side, price, count, count,
                      "good_till_canceled", "maker", now, updated_ts=now)
            self.orders[o.order_id] = o
            self._match(o)
            self._finish_taker(o)
            self._after_op()

    def cancel_maker_orders(self, ticker: str) -> None:
        """Withdraw every synthetic maker quote in ``ticker``."""
        with self.lock:
            book = self.books[ticker]
            for side in (book.bids, book.asks):
                for p in list(side.prices):
                    for o in list(side.levels.get(p, ())):
                        if o.account == MAKER_ACCOUNT:
                            self._cancel(o, "Cancel")  # type: ignore[arg-type]
            self._after_op()

    def _retire(self, o: Order) -> None:
        if o.account == MAKER_ACCOUNT and o.status is not OrderStatus.RESTING:
            self.orders.pop(o.order_id, None)

    # ---- order writes ---------------------------------------------------------------------------

    def create_order(self, account: str, req: dict[str, Any]) -> dict[str, Any]:
        """V2 create: validate, match with price-time priority, rest or cancel the remainder.

        Raises ApiError (400 validation / balance / post-only cross, 404 market, 409 duplicate
        ``client_order_id`` or paused trading, 503 exchange paused).
        """
        if not isinstance(req, dict):
            raise ApiError(400, "bad_request", "body must be a JSON object")
        ticker = req.get("ticker")
        side = req.get("side")
        if side not in ("bid", "ask"):
            raise ApiError(400, "invalid_parameters", "side must be 'bid' or 'ask'")
        count = parse_count(req.get("count"))
        price = parse_price(req.get("price"))
        tif = req.get("time_in_force")
        if tif not in TIFS:
            raise ApiError(400, "invalid_parameters", f"time_in_force must be one of {', '.join(TIFS)}")
        stp = req.get("self_trade_prevention_type")
        if stp not in STPS:
            raise ApiError(400, "invalid_parameters", "self_trade_prevention_type must be taker_at_cross|maker")
        coid = req.get("client_order_id") or ""
        if not isinstance(coid, str):
            raise ApiError(400, "invalid_parameters", "client_order_id must be a string")
        exp = req.get("expiration_time")
        if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool)):
            raise ApiError(400, "invalid_parameters", "expiration_time must be Unix seconds")
        if exp is not None and tif != "good_till_canceled":
            raise ApiError(400, "invalid_order", "expiration_time only with good_till_canceled")
        post_only = bool(req.get("post_only", False))
        reduce_only = bool(req.get("reduce_only", False))
        if reduce_only and tif != "immediate_or_cancel":
            raise ApiError(400, "invalid_order", "reduce_only requires time_in_force=immediate_or_cancel")
        if post_only and tif != "good_till_canceled":
            raise ApiError(400, "invalid_order", "post_only requires good_till_canceled")
        group_id = req.get("order_group_id")
        with self.lock:
            self._check_exchange(placing=True)
            m = self._market(ticker)
            self._check_market(m, placing=True)
            acct = self.account(account)
            now = self.clock()
            if coid and coid in acct.client_ids:
                raise ApiError(409, "order_already_exists", "order already exists")
            if group_id is not None:
                self._check_group_open(account, group_id)
            if exp is not None and exp <= now:
                raise ApiError(400, "invalid_order", "expiration_time is in the past")
            book = self.books[m.ticker]
            if post_only and book.best_crossing(side, price) is not None:
                raise ApiError(400, "invalid_order", "post only cross", "post only cross")
            side_price = price if side == "bid" else ONE - price
            live = count
            if reduce_only:
                held = acct.position(m.ticker).position
                live = min(count, max(ZERO, -held) if side == "bid" else max(ZERO, held))
            if not reduce_only and not acct.unlimited and \
                    acct.available < live * side_price + max_taker_fee(live, side_price):
                raise ApiError(400, "available_balance_too_low", "available balance too low",
                               f"needs {usd(live * side_price + max_taker_fee(live, side_price))}, "
                               f"available {usd(acct.available)}")
            o = Order(str(uuid.uuid4()), account, coid, m.ticker, side, price, count, live, tif, stp, now,
                      expiration_ts=exp, post_only=post_only, reduce_only=reduce_only,
                      cancel_on_pause=bool(req.get("cancel_order_on_pause", False)),
                      order_group_id=group_id, updated_ts=now)
            if coid:
                acct.client_ids.add(coid)
            self.orders[o.order_id] = o
            acct.order_ids.append(o.order_id)
            self._created += 1
            if group_id is not None:
                self._group_add_order(group_id, o)
            if tif == "fill_or_kill" and self._fillable(o) < o.remaining:
                o.remaining = ZERO
            self._match(o)
            self._finish_taker(o)
            self._after_op()
            return self._write_result(o)

    def _write_result(self, o: Order) -> dict[str, Any]:
        out: dict[str, Any] = {
            "order_id": o.order_id, "client_order_id": o.client_order_id, "fill_count": fp(o.filled),
            "remaining_count": fp(o.remaining), "ts_ms": int(self.clock() * 1000),
        }
        if o.filled > 0:
            cost = o.taker_fill_cost + o.maker_fill_cost
            out["average_fill_price"] = usd(cost / o.filled if o.book_side == "bid" else ONE - cost / o.filled)
            out["average_fee_paid"] = usd6((o.taker_fees + o.maker_fees) / o.filled)
        return out

    def _fillable(self, o: Order) -> Decimal:
        total = ZERO
        for r in self.books[o.ticker].crossing(o.book_side, o.price):
            if r.account == o.account:
                if o.stp == "taker_at_cross":
                    break
                continue
            total += r.remaining
            if total >= o.remaining:
                break
        return total

    def _match(self, o: Order) -> None:
        book = self.books[o.ticker]
        while o.remaining > 0:
            r = book.best_crossing(o.book_side, o.price)
            if r is None:
                return
            assert isinstance(r, Order)
            if r.account == o.account:
                if o.stp == "maker":
                    self._cancel(r, "SelfTradeCancel")
                    continue
                o.remaining = ZERO
                o.last_update_reason = "SelfTradeCancel"
                return
            self._trade(o, r, min(o.remaining, r.remaining))

    def _trade(self, taker: Order, maker: Order, q: Decimal, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        price = maker.price
        m = self.markets[taker.ticker]
        for order, is_taker in ((taker, True), (maker, False)):
            acct = self.accounts[order.account]
            side_price = price if order.book_side == "bid" else ONE - price
            fee = trade_fee(q, side_price) if is_taker else ZERO
            pos = acct.position(order.ticker)
            acct.cash += pos.apply(order.outcome_side, q, side_price, fee, now)
            if not is_taker:
                acct.reserved -= q * order.side_price
            order.filled += q
            order.remaining -= q
            order.updated_ts = now
            order.last_update_reason = "Trade"
            if is_taker:
                order.taker_fill_cost += q * side_price
                order.taker_fees += fee
            else:
                order.maker_fill_cost += q * side_price
                order.maker_fees += fee
            self._mark("acct", acct.name, acct)
            self._mark("order", order.order_id, order)
            if not acct.unlimited:
                f = Fill(str(uuid.uuid4()), order.order_id, order.client_order_id, order.ticker, order.book_side,
                         q, price, is_taker, fee, now, pos.position)
                acct.fills.append(f)
                self._mark("fill", f.fill_id, f)
                self._mark("pos", f"{acct.name}/{pos.ticker}", (acct.name, pos))
                self._emit_fill(acct, f, pos)
            if order.order_group_id is not None:
                self._group_matched(order, q, now)
        if maker.remaining == 0:
            self.books[maker.ticker].remove(maker)
            maker.status = OrderStatus.EXECUTED
            self._retire(maker)
        self._emit_user_order(maker)
        self._emit_book_delta(maker, -q)
        m.last_price = price
        m.last_trade_size = q
        m.volume += q
        m.updated_ts = now
        self._emit_trade(m, taker, q, price, now)

    def _finish_taker(self, o: Order) -> None:
        """After matching: rest a GTC remainder, cancel an IOC/FOK one; publish the order."""
        if o.remaining > 0 and o.time_in_force == "good_till_canceled" and o.status is OrderStatus.RESTING:
            self.books[o.ticker].add(o)
            self.accounts[o.account].reserved += o.remaining * o.side_price
            self._emit_book_delta(o, o.remaining)
        elif o.status is OrderStatus.RESTING:
            o.remaining = ZERO
            o.status = OrderStatus.EXECUTED if o.filled == o.initial else OrderStatus.CANCELED
            self._retire(o)
        self._mark("order", o.order_id, o)
        self._mark("acct", o.account, self.accounts[o.account])
        self._emit_user_order(o)

    def _cancel(self, o: Order, reason: str) -> Decimal:
        """Cancel a resting order; returns the count taken off the book."""
        if o.status is not OrderStatus.RESTING:
            return ZERO
        reduced = o.remaining
        if self.books[o.ticker].remove(o):
            self.accounts[o.account].reserved -= reduced * o.side_price
            self._emit_book_delta(o, -reduced)
        o.remaining = ZERO
        o.status = OrderStatus.CANCELED
        o.updated_ts = self.clock()
        o.last_update_reason = reason
        if o.order_group_id is not None:
            self._group_drop_order(o)
        self._retire(o)
        self._mark("order", o.order_id, o)
        self._mark("acct", o.account, self.accounts[o.account])
        self._emit_user_order(o)
        return reduced

    def _after_op(self) -> None:
        self._run_pending_triggers()
        self._commit()

    def cancel_order(self, account: str, order_id: str) -> dict[str, Any]:
        """V2 cancel. Raises ApiError 404 for an unknown / finished order, MARKET_INACTIVE after close."""
        with self.lock:
            self._check_exchange(placing=False)
            o = self._own_order(account, order_id)
            self._check_market(self.markets[o.ticker], placing=False)
            if o.status is not OrderStatus.RESTING:
                raise ApiError(404, "not_found", "order not found")
            reduced = self._cancel(o, "Cancel")
            self._after_op()
            return {"order_id": o.order_id, "client_order_id": o.client_order_id, "reduced_by": fp(reduced),
                    "ts_ms": int(self.clock() * 1000)}

    def cancel_all(self, account: str) -> int:
        """Cancel every resting order of ``account`` in open markets; returns how many were cancelled."""
        with self.lock:
            self._check_exchange(placing=False)
            acct = self.account(account)
            n = 0
            for oid in acct.order_ids:
                o = self.orders[oid]
                if o.status is OrderStatus.RESTING and not self.markets[o.ticker].closed:
                    self._cancel(o, "Cancel")
                    n += 1
            self._after_op()
            return n
