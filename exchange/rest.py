"""The Kalshi REST client: signed requests, typed methods, one error classification, read retries only.

Same code for production, demo and the simulator: only ``base_url`` and the signer's key differ.
Reads retry on Ambiguous/RateLimited with exponential backoff and full jitter; writes are never retried
(an Ambiguous write must be resolved from exchange evidence by the caller).
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from loguru import logger

from kalshi_guard.core import observe
from kalshi_guard.core.errors import Ambiguous, ExchangeError, RateLimited
from kalshi_guard.exchange.buckets import CHEAP_COST, DEFAULT_COST, BucketKind, Priority, RateBuckets
from kalshi_guard.exchange.classify import classify_exception, classify_response
from kalshi_guard.exchange.groups import OrderGroupCalls
from kalshi_guard.exchange.history import HistoryReads
from kalshi_guard.exchange.meter import CallMeter
from kalshi_guard.exchange.signing import Signer
from kalshi_guard.exchange.tls import shared_tls_context
from kalshi_guard.exchange.wire import (
    AmendOrderRequest,
    AmendResult,
    BatchCancelItem,
    BatchCreateItem,
    CancelResult,
    CreateOrderRequest,
    CreateOrderResult,
    DecreaseResult,
    Fill,
    Order,
    OrderStatus,
)
from kalshi_guard.exchange.wire_base import Fields, fmt_count
from kalshi_guard.exchange.wire_reads import (
    AccountLimits,
    Balance,
    EventPosition,
    ExchangeSchedule,
    ExchangeStatus,
    Market,
    MarketPosition,
    Orderbook,
    Positions,
)

T = TypeVar("T")
MAX_PAGES = 10_000
CLOCK_SKEW_S = 60  # an order written at local time t was created on the exchange after t - this
_NO_BODY = object()


@dataclass(frozen=True, slots=True)
class CancelSpec:
    """One order of a batch cancel (``market_ticker`` lets Kalshi route to the right shard)."""

    order_id: str
    market_ticker: str | None = None
    subaccount: int | None = None
    exchange_index: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON item."""
        item: dict[str, Any] = {"order_id": self.order_id}
        for name in ("market_ticker", "subaccount", "exchange_index"):
            if getattr(self, name) is not None:
                item[name] = getattr(self, name)
        return item


class KalshiClient(HistoryReads, OrderGroupCalls):
    """Typed, signed access to Kalshi's REST API. One instance per thread/actor (httpx.Client inside).

    Every method raises an ``actors.errors.ExchangeError`` subclass on failure: Rejected (with Kalshi's
    ``error.code``), NotFoundError, RateLimited, AuthError or Ambiguous.
    """

    NO_BODY = _NO_BODY  # for the mixins: a request without a body

    def __init__(self, base_url: str, signer: Signer, *, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None, buckets: RateBuckets | None = None,
                 read_retries: int = 3, rng: random.Random | None = None, backoff_base: float = 0.1,
                 backoff_max: float = 2.0, bucket_timeout: float | None = None,
                 keepalive_expiry: float | None = None, meter: CallMeter | None = None,
                 source: str = "") -> None:
        self.meter = meter  # every call attempt's outcome (the API error-rate kill switch); None = not counted
        self.source = source
        self.base_url = base_url.rstrip("/")
        self._prefix = urlsplit(self.base_url).path
        self._signer = signer
        self._buckets = buckets
        self._read_retries = read_retries
        self._rng = rng or random.Random()
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._bucket_timeout = timeout if bucket_timeout is None else bucket_timeout
        self._closed = threading.Event()
        self.pages_read = 0  # pages of list endpoints fetched (a reconciliation reports its reads)
        limits = httpx.Limits() if keepalive_expiry is None else httpx.Limits(keepalive_expiry=keepalive_expiry)
        self._http = httpx.Client(timeout=timeout, transport=transport, trust_env=False, limits=limits,
                                  headers={"Accept": "application/json"}, verify=shared_tls_context())

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Close the connection pool; a backoff sleeping in another thread wakes up."""
        self._closed.set()
        self._http.close()

    def __enter__(self) -> KalshiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KalshiClient({self.base_url!r}, key_id={self._signer.key_id!r})"

    def _send(self, method: str, path: str, params: dict[str, Any] | None, body: Any,
              kind: BucketKind, cost: float, priority: Priority) -> httpx.Response:
        """One signed attempt; raises the classified error for non-2xx or transport failure."""
        if self._buckets is not None:
            self._buckets.acquire(kind, cost, priority, timeout=self._bucket_timeout)
        headers = self._signer.headers(method, self._prefix + path)
        content = None
        if body is not _NO_BODY:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        what = f"{method} {path}"
        try:
            resp = self._http.request(method, self.base_url + path, params=clean or None, content=content,
                                      headers=headers)
        except httpx.HTTPError as exc:
            error: ExchangeError | None = classify_exception(exc, what)
        else:
            error = classify_response(resp)
        if self.meter is not None:
            self.meter.outcome(error, self.source)
        observe.emit("api_call", method=method, route=observe.route_template(path),
                     error=None if error is None else type(error).__name__)
        if error is not None:
            raise error
        return resp

    def _json(self, resp: httpx.Response, what: str) -> Any:
        try:
            return json.loads(resp.content, parse_float=Decimal)
        except ValueError:
            raise Ambiguous(f"{what}: HTTP {resp.status_code} with an unparseable body",
                            status=resp.status_code, body=resp.text[:500]) from None

    def _write(self, method: str, path: str, body: Any, parse: Callable[[Any], T], *,
               cost: float = DEFAULT_COST, priority: Priority = Priority.NORMAL,
               params: dict[str, Any] | None = None) -> T:
        """A write: exactly one attempt; a 2xx that does not parse is Ambiguous."""
        resp = self._send(method, path, params, body, BucketKind.WRITE, cost, priority)
        return self._parse(resp, f"{method} {path}", parse)

    def _parse(self, resp: httpx.Response, what: str, parse: Callable[[Any], T]) -> T:
        if parse is _ignore and not resp.content.strip():
            return None  # type: ignore[return-value]  # 200/204 with no body: nothing to check
        data = self._json(resp, what)
        try:
            return parse(data)
        except ExchangeError as exc:
            exc.status = exc.status or resp.status_code
            raise

    def _read(self, path: str, parse: Callable[[Any], T], params: dict[str, Any] | None = None, *,
              cost: float = DEFAULT_COST) -> T:
        """A read: retried on Ambiguous/RateLimited with exponential backoff and full jitter."""
        attempt = 0
        while True:
            try:
                resp = self._send("GET", path, params, _NO_BODY, BucketKind.READ, cost, Priority.NORMAL)
                return self._parse(resp, f"GET {path}", parse)
            except (Ambiguous, RateLimited) as exc:
                if attempt >= self._read_retries or self._closed.is_set():
                    raise
                cap = min(self._backoff_max, self._backoff_base * (2 ** attempt))
                if isinstance(exc, RateLimited):
                    cap = max(cap, min(self._backoff_max, exc.retry_after))
                delay = self._rng.uniform(cap / 2, cap)
                logger.debug("kalshi GET {} failed ({}); retry {} in {:.3f}s", path, type(exc).__name__,
                             attempt + 1, delay)
                attempt += 1
                if self._closed.wait(delay):
                    raise

    def _pages(self, path: str, key: str, parse_item: Callable[[Any], T], params: dict[str, Any],
               extra: Callable[[dict[str, Any]], None] | None = None, *, strict: bool = False,
               keep: Callable[[list[T]], list[T]] | None = None) -> list[T]:
        """Follow ``cursor`` to the end (``""`` or absent). A repeated cursor is Ambiguous (a loop).

        ``extra`` sees each parsed page object (for responses with a second list, e.g. event positions).
        ``strict``: a page without its list or ``cursor`` (Kalshi sends ``""`` last) is partial: Ambiguous.
        ``keep`` filters each page's items as it arrives: a caller that needs a few items of a long listing
        holds one page at a time, not the whole listing.
        """
        items: list[T] = []
        cursor: str | None = None
        seen: set[str] = set()

        def parse_page(data: Any) -> tuple[list[T], str | None]:
            f = Fields(f"page of {key}", data)
            if strict and (not isinstance(data.get(key), list) or not isinstance(data.get("cursor"), str)):
                raise Ambiguous(f"GET {path}: partial page (no {key} list or no cursor)")
            parsed = [parse_item(x) for x in f.lst(key, required=False)]
            if extra is not None:
                extra(data)
            nxt = data.get("cursor")
            return parsed, nxt if isinstance(nxt, str) else None

        for _ in range(MAX_PAGES):
            page, cursor = self._read(path, parse_page, {**params, "cursor": cursor or None})
            self.pages_read += 1
            items.extend(page if keep is None else keep(page))
            if not cursor:
                return items
            if cursor in seen:
                raise Ambiguous(f"GET {path}: cursor {cursor!r} repeated; pagination would not end")
            seen.add(cursor)
        raise Ambiguous(f"GET {path}: more than {MAX_PAGES} pages")

    # ------------------------------------------------------------------ order writes (V2)

    def create_order(self, request: CreateOrderRequest, *,
                     priority: Priority = Priority.NORMAL) -> CreateOrderResult:
        """Create one order (201). Never retried; Ambiguous means it may exist — reconcile by client id."""
        return self._write("POST", "/portfolio/events/orders", request.to_wire(), CreateOrderResult.parse,
                           priority=priority)

    def batch_create_orders(self, requests: Sequence[CreateOrderRequest], *,
                            priority: Priority = Priority.NORMAL) -> list[BatchCreateItem]:
        """Create several orders; per-item errors come back as ``BatchCreateItem.error`` (Rejected)."""
        body = {"orders": [r.to_wire() for r in requests]}

        def parse(data: Any) -> list[BatchCreateItem]:
            items = Fields("BatchCreateOrdersV2Response", data).lst("orders")
            if len(items) != len(requests):
                raise Ambiguous(f"batch create: {len(items)} results for {len(requests)} orders")
            return [BatchCreateItem.parse(x) for x in items]

        return self._write("POST", "/portfolio/events/orders/batched", body, parse,
                           cost=DEFAULT_COST * max(1, len(requests)), priority=priority)

    def batch_create_room(self, priority: Priority = Priority.NORMAL) -> int | None:
        """How many orders one batch create may carry: as many as the client's write bucket can ever pay for
        in one request (10 tokens each); a bigger batch would fail RateLimited however long it waited.
        None when the client has no buckets."""
        if self._buckets is None:
            return None
        return int(self._buckets.write.most(priority) + 1e-9) // DEFAULT_COST

    def read_budget(self) -> tuple[float, float] | None:
        """``(tokens available, capacity)`` of the client's read bucket now; None when it has no buckets."""
        if self._buckets is None:
            return None
        return self._buckets.read.tokens(), self._buckets.read.capacity

    def cancel_order(self, order_id: str, *, market_ticker: str | None = None, subaccount: int | None = None,
                     exchange_index: int | None = None,
                     priority: Priority = Priority.URGENT) -> CancelResult:
        """Cancel one order. NotFoundError (404) means it is already dead (cancelled, executed, unknown)."""
        params = {"market_ticker": market_ticker, "subaccount": subaccount, "exchange_index": exchange_index}
        return self._write("DELETE", f"/portfolio/events/orders/{order_id}", _NO_BODY, CancelResult.parse,
                           cost=CHEAP_COST, priority=priority, params=params)

    def batch_cancel_orders(self, orders: Iterable[str | CancelSpec], *,
                            priority: Priority = Priority.URGENT) -> list[BatchCancelItem]:
        """Cancel several orders (JSON body on DELETE); per-item errors in ``BatchCancelItem.error``."""
        specs = [o if isinstance(o, CancelSpec) else CancelSpec(o) for o in orders]
        body = {"orders": [s.to_wire() for s in specs]}

        def parse(data: Any) -> list[BatchCancelItem]:
            items = Fields("BatchCancelOrdersV2Response", data).lst("orders")
            if len(items) != len(specs):
                raise Ambiguous(f"batch cancel: {len(items)} results for {len(specs)} orders")
            return [BatchCancelItem.parse(x) for x in items]

        return self._write("DELETE", "/portfolio/events/orders/batched", body, parse,
                           cost=CHEAP_COST * max(1, len(specs)), priority=priority)

    def amend_order(self, order_id: str, request: AmendOrderRequest, *,
                    priority: Priority = Priority.NORMAL) -> AmendResult:
        """Amend price/size/expiry (``count`` = new total). Never retried."""
        return self._write("POST", f"/portfolio/events/orders/{order_id}/amend", request.to_wire(),
                           AmendResult.parse, priority=priority)

    def decrease_order(self, order_id: str, *, reduce_by: Decimal | None = None,
                       reduce_to: Decimal | None = None, market_ticker: str | None = None,
                       exchange_index: int | None = None,
                       priority: Priority = Priority.URGENT) -> DecreaseResult:
        """Reduce an order's size; exactly one of ``reduce_by``/``reduce_to``. Raises ValueError otherwise."""
        if (reduce_by is None) == (reduce_to is None):
            raise ValueError("exactly one of reduce_by / reduce_to is required")
        body: dict[str, Any] = {}
        if reduce_by is not None:
            body["reduce_by"] = fmt_count(reduce_by)
        if reduce_to is not None:
            body["reduce_to"] = fmt_count(reduce_to)
        if market_ticker is not None:
            body["market_ticker"] = market_ticker
        if exchange_index is not None:
            body["exchange_index"] = exchange_index
        return self._write("POST", f"/portfolio/events/orders/{order_id}/decrease", body,
                           DecreaseResult.parse, priority=priority)

    def cancel_all_orders(self, *, subaccount: int | None = None,
                          priority: Priority = Priority.URGENT) -> None:
        """Cancel every resting order (204). Kalshi may also cancel orders placed in the next minute."""
        self._send("DELETE", "/portfolio/events/orders", {"subaccount": subaccount}, _NO_BODY,
                   BucketKind.WRITE, CHEAP_COST, priority)

    # ------------------------------------------------------------------ order and portfolio reads

    def get_order(self, order_id: str) -> Order:
        """One order. NotFoundError when Kalshi does not know it (it may be in /historical)."""
        return self._read(f"/portfolio/orders/{order_id}",
                          lambda d: Order.parse(Fields("GetOrderResponse", d).raw("order")), cost=CHEAP_COST)

    def list_orders(self, *, ticker: str | None = None, event_ticker: str | None = None,
                    status: OrderStatus | str | None = None, min_ts: int | None = None,
                    max_ts: int | None = None, subaccount: int | None = None,
                    limit: int = 200, strict: bool = False,
                    keep: Callable[[list[Order]], list[Order]] | None = None) -> list[Order]:
        """All orders matching the filters, every page (``keep`` filters each page as it arrives)."""
        params = {"ticker": ticker, "event_ticker": event_ticker, "min_ts": min_ts, "max_ts": max_ts,
                  "status": str(status) if status is not None else None, "subaccount": subaccount,
                  "limit": limit}
        return self._pages("/portfolio/orders", "orders", Order.parse, params, strict=strict, keep=keep)

    def find_order_by_client_id(self, ticker: str, client_order_id: str, since: float | None = None) -> Order | None:
        """Our order ``client_order_id`` among the market's orders, or None when it is not listed. With
        ``since`` (when we wrote it, Unix s), only orders created from ``since`` minus a minute of clock skew
        are listed: the lookup costs the orders of that window, not every order the market ever had. Each
        page keeps only the match. Raises like every read."""
        min_ts = None if since is None else int(since) - CLOCK_SKEW_S
        found = self.list_orders(ticker=ticker, min_ts=min_ts, limit=1000,
                                 keep=lambda page: [o for o in page if o.client_order_id == client_order_id])
        return found[0] if found else None

    def get_fills(self, *, ticker: str | None = None, order_id: str | None = None,
                  min_ts: int | None = None, max_ts: int | None = None, subaccount: int | None = None,
                  limit: int = 200, strict: bool = False,
                  keep: Callable[[list[Fill]], list[Fill]] | None = None) -> list[Fill]:
        """All fills matching the filters, every page (keyed by ``trade_id``); ``keep`` filters page by page."""
        params = {"ticker": ticker, "order_id": order_id, "min_ts": min_ts, "max_ts": max_ts,
                  "subaccount": subaccount, "limit": limit}
        return self._pages("/portfolio/fills", "fills", Fill.parse, params, strict=strict, keep=keep)

    def get_positions(self, *, ticker: str | None = None, event_ticker: str | None = None,
                      count_filter: str | None = None, subaccount: int | None = None,
                      limit: int = 200, strict: bool = False) -> Positions:
        """Unsettled positions, every page (market and event aggregates)."""
        params = {"ticker": ticker, "event_ticker": event_ticker, "count_filter": count_filter,
                  "subaccount": subaccount, "limit": limit}
        events: dict[str, EventPosition] = {}

        def take_events(data: dict[str, Any]) -> None:
            for raw in Fields("GetPositionsResponse", data).lst("event_positions", required=False):
                ev = EventPosition.parse(raw)
                events[ev.event_ticker] = ev

        markets = self._pages("/portfolio/positions", "market_positions", MarketPosition.parse, params,
                              take_events, strict=strict)
        return Positions(tuple(markets), tuple(events.values()))

    def get_balance(self, *, subaccount: int | None = None) -> Balance:
        """The available balance (dollars)."""
        return self._read("/portfolio/balance", Balance.parse, {"subaccount": subaccount})

    # ------------------------------------------------------------------ markets and exchange

    def get_markets(self, *, event_ticker: str | None = None, series_ticker: str | None = None,
                    status: str | None = None, tickers: Sequence[str] | None = None,
                    limit: int = 200) -> list[Market]:
        """Markets matching the filters (query vocabulary: unopened/open/paused/closed/settled), all pages."""
        params = {"event_ticker": event_ticker, "series_ticker": series_ticker, "status": status,
                  "tickers": ",".join(tickers) if tickers else None, "limit": limit}
        return self._pages("/markets", "markets", Market.parse, params)

    def get_market(self, ticker: str) -> Market:
        """One market. NotFoundError when unknown."""
        return self._read(f"/markets/{ticker}",
                          lambda d: Market.parse(Fields("GetMarketResponse", d).raw("market")))

    def get_orderbook(self, ticker: str, depth: int = 0) -> Orderbook:
        """The book (bids on both sides, ascending). ``depth`` 0 = all levels."""
        return self._read(f"/markets/{ticker}/orderbook", lambda d: Orderbook.parse(ticker, d),
                          {"depth": depth or None})

    def get_exchange_status(self) -> ExchangeStatus:
        """Whether the exchange and trading are active."""
        return self._read("/exchange/status", ExchangeStatus.parse)

    def keepalive(self, timeout: float = 1.0) -> bool:
        """Keep this client's connection open: an unsigned ``GET /exchange/status`` (public; no token taken
        from the key's buckets), waiting at most ``timeout`` s. True when the exchange answered at all (any
        status). Never raises."""
        try:
            self._http.get(self.base_url + "/exchange/status", timeout=timeout)
        except httpx.HTTPError:
            return False
        return True

    def get_exchange_schedule(self) -> ExchangeSchedule:
        """Standard hours and maintenance windows."""
        return self._read("/exchange/schedule", ExchangeSchedule.parse)

    def get_account_limits(self) -> AccountLimits:
        """The member's read/write token budgets (feed to ``RateBuckets.configure_from_limits``)."""
        return self._read("/account/limits", AccountLimits.parse)


def _ignore(data: Any) -> None:
    if not isinstance(data, dict):
        raise Ambiguous("expected a JSON object")


