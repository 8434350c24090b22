"""The Kalshi WebSocket stream: signed handshake, remembered subscriptions, books with seq-gap resync,
staleness detection and reconnect with backoff and jitter, in one reader thread the owner starts.

The private channels (``fill``, ``user_orders``, ``market_positions``) carry no ``seq``: after every
reconnect the owner gets ``StreamEvent.RECONNECTED`` and must reconcile over REST.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from loguru import logger
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from kalshi_guard.core.errors import ExchangeError
from kalshi_guard.exchange.signing import Signer
from kalshi_guard.exchange.stream_msgs import (
    OrderbookDelta,
    OrderbookSnapshot,
    StreamError,
    StreamMessage,
    Subscribed,
    UnknownMessage,
    parse_stream_message,
)
from kalshi_guard.exchange.wire_base import OutcomeSide
from kalshi_guard.exchange.wire_reads import Orderbook, PriceLevel

_DECODE = json.JSONDecoder(parse_float=Decimal).decode  # one decoder for every frame (json.loads makes one per call)
BOOK_CHANNEL = "orderbook_delta"
TERMINAL_ERRORS = frozenset({10, 25})


class StreamEvent(StrEnum):
    """What the stream tells its owner besides messages."""

    CONNECTED = "connected"  # first connection up, subscriptions sent
    RECONNECTED = "reconnected"  # up again after a drop: reconcile (private channels have no seq)
    DISCONNECTED = "disconnected"  # connection lost; reconnecting with backoff
    CONNECT_FAILED = "connect_failed"  # handshake refused (401 = key/clock) or unreachable
    STALE = "stale"  # nothing (not even a ping) within stale_after; reconnecting
    BOOK_RESYNC = "book_resync"  # seq gap on a book: book discarded, fresh snapshot requested
    GAP = "gap"  # seq gap on another sequenced channel: reconcile
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Subscription:
    """What the owner asked for; re-sent after every reconnect."""

    handle: int
    channels: tuple[str, ...]
    market_tickers: tuple[str, ...]

    def params(self) -> dict[str, Any]:
        """The ``subscribe`` params."""
        p: dict[str, Any] = {"channels": list(self.channels)}
        if self.market_tickers:
            p["market_tickers"] = list(self.market_tickers)
        return p


class _Conn(ClientConnection):
    """Records when any frame (data, ping, pong) last arrived: the staleness signal."""

    on_frame: Callable[[], None] = staticmethod(lambda: None)

    def process_event(self, event: Any) -> None:
        self.on_frame()
        super().process_event(event)


class _Book:
    __slots__ = ("no", "sid", "yes")

    def __init__(self, snap: OrderbookSnapshot) -> None:
        self.sid = snap.sid
        self.yes = {lv.price: lv.count for lv in snap.yes}
        self.no = {lv.price: lv.count for lv in snap.no}

    def apply(self, d: OrderbookDelta) -> bool:
        side = self.yes if d.side is OutcomeSide.YES else self.no
        size = side.get(d.price, Decimal(0)) + d.delta
        if size < 0:
            return False
        if size == 0:
            side.pop(d.price, None)
        else:
            side[d.price] = size
        return True

    def freeze(self, ticker: str) -> Orderbook:
        def levels(side: dict[Decimal, Decimal]) -> tuple[PriceLevel, ...]:
            return tuple(PriceLevel(p, c) for p, c in sorted(side.items()))

        return Orderbook(ticker, levels(self.yes), levels(self.no))


class KalshiStream:
    """A reconnecting Kalshi WebSocket client. Callbacks run in the reader thread and must not block long.

    ``on_message(StreamMessage)`` gets every parsed frame (duplicates by ``seq`` are dropped);
    ``on_event(StreamEvent)`` gets connection and consistency events. A callback that raises is logged
    and ignored (the reader never dies from it).
    """

    def __init__(self, ws_url: str, signer: Signer, on_message: Callable[[StreamMessage], object],
                 on_event: Callable[[StreamEvent], object], *, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, stale_after: float = 15.0, backoff_initial: float = 0.1,
                 backoff_max: float = 5.0, open_timeout: float = 5.0, ping_interval: float | None = 10.0,
                 poll_interval: float = 0.2) -> None:
        self.ws_url = ws_url
        self._path = urlsplit(ws_url).path
        self._signer = signer
        self._on_message = on_message
        self._on_event = on_event
        self._clock = clock
        self._rng = rng or random.Random()
        self.stale_after = stale_after
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._poll = poll_interval
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: ClientConnection | None = None
        self._subs: dict[int, Subscription] = {}
        self._next_handle = 1
        self._next_id = 1
        self._pending: dict[int, int] = {}  # command id -> subscription handle
        self._sids: dict[int, tuple[int, str]] = {}  # sid -> (handle, channel)
        self._seq: dict[int, int] = {}
        self._books: dict[str, _Book] = {}
        self._last_rx = clock()
        self._ever_connected = False
        self._later: list[StreamEvent] = []
        self.connections = 0  # successful handshakes so far

    # ------------------------------------------------------------------ owner API

    def start(self) -> None:
        """Start the reader thread (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="kalshi-stream", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the connection and join the reader thread (at most ``timeout`` seconds)."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def wait_connected(self, timeout: float) -> bool:
        """Block until the stream is connected (True) or the timeout passes (False)."""
        return self._connected.wait(timeout)

    def is_connected(self) -> bool:
        """True while a connection is open."""
        return self._connected.is_set()

    def is_stale(self) -> bool:
        """True when disconnected or nothing (message, ping, pong) arrived within ``stale_after`` s."""
        return not self._connected.is_set() or self._clock() - self._last_rx > self.stale_after

    def subscribe(self, channels: Iterable[str], market_tickers: Iterable[str] = ()) -> int:
        """Subscribe (now if connected, and again after every reconnect); returns a local handle."""
        with self._lock:
            sub = Subscription(self._next_handle, tuple(channels), tuple(market_tickers))
            self._next_handle += 1
            self._subs[sub.handle] = sub
            self._send_subscribe(sub)
            return sub.handle

    def unsubscribe(self, handle: int) -> None:
        """Forget a subscription and tell the server (its sids)."""
        with self._lock:
            self._subs.pop(handle, None)
            sids = self._drop_sids(handle)
            if sids:
                self._command("unsubscribe", {"sids": sids})

    def update_subscription(self, handle: int, action: str, market_tickers: Iterable[str]) -> None:
        """``add_markets`` / ``delete_markets`` (remembered) or ``get_snapshot`` on every sid of a handle.

        Raises ValueError for an unknown handle or action.
        """
        tickers = tuple(market_tickers)
        with self._lock:
            sub = self._subs.get(handle)
            if sub is None:
                raise ValueError(f"unknown subscription handle {handle}")
            if action == "add_markets":
                merged = sub.market_tickers + tuple(t for t in tickers if t not in sub.market_tickers)
                self._subs[handle] = Subscription(handle, sub.channels, merged)
            elif action == "delete_markets":
                kept = tuple(t for t in sub.market_tickers if t not in tickers)
                self._subs[handle] = Subscription(handle, sub.channels, kept)
                for t in tickers:
                    self._books.pop(t, None)
            elif action != "get_snapshot":
                raise ValueError(f"unknown action {action!r}")
            for sid, (h, _ch) in list(self._sids.items()):
                if h == handle:
                    self._command("update_subscription",
                                  {"sids": [sid], "action": action, "market_tickers": list(tickers)})

    def list_subscriptions(self) -> int | None:
        """Ask the server for its list (answer arrives as a SubscriptionList); the command id or None."""
        with self._lock:
            return self._command("list_subscriptions", None)

    def subscriptions(self) -> list[Subscription]:
        """What is remembered (and re-sent after reconnect)."""
        with self._lock:
            return list(self._subs.values())

    def book(self, ticker: str) -> Orderbook | None:
        """A copy of the current book of a market, or None while there is no consistent book."""
        with self._lock:
            b = self._books.get(ticker)
            return b.freeze(ticker) if b is not None else None

    # ------------------------------------------------------------------ sending

    def _command(self, cmd: str, params: dict[str, Any] | None) -> int | None:
        ws = self._ws
        if ws is None or not self._connected.is_set():
            return None
        cid = self._next_id
        self._next_id += 1
        frame: dict[str, Any] = {"id": cid, "cmd": cmd}
        if params is not None:
            frame["params"] = params
        try:
            ws.send(json.dumps(frame, separators=(",", ":")))
        except (ConnectionClosed, WebSocketException, OSError) as exc:
            logger.info("kalshi stream: {} not sent ({}); it is re-sent after reconnect", cmd,
                        type(exc).__name__)
            return None
        return cid

    def _send_subscribe(self, sub: Subscription) -> None:
        cid = self._command("subscribe", sub.params())
        if cid is not None:
            self._pending[cid] = sub.handle

    def _drop_sids(self, handle: int) -> list[int]:
        sids = [sid for sid, (h, _c) in self._sids.items() if h == handle]
        for sid in sids:
            del self._sids[sid]
            self._seq.pop(sid, None)
        for t in [t for t, b in self._books.items() if b.sid in sids]:
            del self._books[t]
        return sids

    # ------------------------------------------------------------------ reader thread

    def _notify(self, event: StreamEvent) -> None:
        try:
            self._on_event(event)
        except Exception as exc:
            logger.opt(exception=exc).error("kalshi stream: on_event({}) raised; ignored", event)

    def _deliver(self, msg: StreamMessage) -> None:
        try:
            self._on_message(msg)
        except Exception as exc:
            logger.opt(exception=exc).error("kalshi stream: on_message raised; ignored")

    def _touch(self) -> None:
        self._last_rx = self._clock()

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            reason: StreamEvent | None = None
            try:
                with self._open() as ws:
                    attempt = 0
                    self._on_open(ws)
                    reason = self._session(ws)
                    with self._lock:
                        self._connected.clear()
                        self._ws = None
            except (OSError, WebSocketException, TimeoutError) as exc:
                if reason is None:
                    status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
                    logger.warning("kalshi stream: connect failed ({}{})", type(exc).__name__,
                                   f" HTTP {status}" if status else "")
                    reason = StreamEvent.CONNECT_FAILED
                    attempt += 1
            finally:
                with self._lock:
                    self._connected.clear()
                    self._ws = None
            if self._stop.is_set():
                break
            self._notify(reason)
            self._backoff(max(1, attempt))
        self._notify(StreamEvent.STOPPED)

    def _backoff(self, attempt: int) -> None:
        cap = min(self._backoff_max, self._backoff_initial * (2 ** max(0, attempt - 1)))
        self._stop.wait(self._rng.uniform(cap / 2, cap))

    def _open(self) -> Any:
        headers = self._signer.headers("GET", self._path)
        return connect(self.ws_url, additional_headers=headers, open_timeout=self._open_timeout,
                       ping_interval=self._ping_interval, ping_timeout=self._ping_interval,
                       close_timeout=2, proxy=None, create_connection=_Conn, max_size=2**22)

    def _on_open(self, ws: ClientConnection) -> None:
        ws.on_frame = self._touch  # type: ignore[attr-defined]  # our _Conn's frame hook
        with self._lock:
            self._ws = ws
            self._next_id = 1
            self._pending.clear()
            self._sids.clear()
            self._seq.clear()
            self._books.clear()
            self._touch()
            self._connected.set()
            self.connections += 1
            for sub in list(self._subs.values()):
                self._send_subscribe(sub)
            first = not self._ever_connected
            self._ever_connected = True
        self._notify(StreamEvent.CONNECTED if first else StreamEvent.RECONNECTED)

    def _session(self, ws: ClientConnection) -> StreamEvent:
        """Read until the connection drops, goes stale or stop is asked; returns the event to report."""
        while not self._stop.is_set():
            try:
                raw = ws.recv(timeout=self._poll)
            except TimeoutError:
                if self._clock() - self._last_rx > self.stale_after:
                    logger.warning("kalshi stream: nothing for {}s; reconnecting", self.stale_after)
                    return StreamEvent.STALE
                continue
            except (ConnectionClosed, WebSocketException, OSError) as exc:
                logger.info("kalshi stream: connection lost ({})", type(exc).__name__)
                return StreamEvent.DISCONNECTED
            self._handle_raw(raw)
        return StreamEvent.STOPPED

    def _handle_raw(self, raw: str | bytes) -> None:
        try:
            frame = _DECODE(raw if isinstance(raw, str) else raw.decode())
            msg = parse_stream_message(frame)
        except (ValueError, ExchangeError) as exc:
            logger.warning("kalshi stream: unparseable frame dropped ({})", exc)
            return
        with self._lock:
            keep = self._track(msg, frame)
            events, self._later = self._later, []
        for event in events:
            self._notify(event)
        if keep:
            self._deliver(msg)

    def _track(self, msg: StreamMessage, frame: dict[str, Any]) -> bool:
        """Bookkeeping under the lock; False drops the message (duplicate or stale book frame)."""
        if isinstance(msg, Subscribed):
            handle = self._pending.get(msg.id) if msg.id is not None else None  # one ack per channel
            if handle is not None and handle in self._subs:
                self._sids[msg.sid] = (handle, msg.channel)
            return True
        if isinstance(msg, StreamError):
            if msg.id in self._pending and msg.id is not None:
                self._pending.pop(msg.id)
            if msg.code in TERMINAL_ERRORS and msg.sid in self._sids:
                self._resubscribe(self._sids[msg.sid][0])
            return True
        sid, seq = frame.get("sid"), frame.get("seq")
        if isinstance(sid, int) and isinstance(seq, int) and sid in self._sids:
            last = self._seq.get(sid)
            if last is not None and seq <= last:
                return False  # duplicate or late: already seen
            self._seq[sid] = seq
            if last is not None and seq != last + 1:
                handle, channel = self._sids[sid]
                logger.warning("kalshi stream: seq gap on sid {} ({}): {} -> {}", sid, channel, last, seq)
                if channel == BOOK_CHANNEL:
                    self._resubscribe(handle)
                    self._notify_later(StreamEvent.BOOK_RESYNC)
                    return False
                self._notify_later(StreamEvent.GAP)
        if isinstance(msg, OrderbookSnapshot):
            if msg.sid not in self._sids:
                return False
            self._books[msg.ticker] = _Book(msg)
        elif isinstance(msg, OrderbookDelta):
            book = self._books.get(msg.ticker)
            if book is None or book.sid != msg.sid:
                return False
            if not book.apply(msg):
                logger.warning("kalshi stream: delta drives {} below zero; resyncing", msg.ticker)
                self._resubscribe(self._sids[msg.sid][0])
                self._notify_later(StreamEvent.BOOK_RESYNC)
                return False
        elif isinstance(msg, UnknownMessage):
            logger.debug("kalshi stream: unmodelled frame type {!r}", msg.type)
        return True

    def _notify_later(self, event: StreamEvent) -> None:
        # called under the lock; flushed by _handle_raw after unlocking, before the message is delivered
        self._later.append(event)

    def _resubscribe(self, handle: int) -> None:
        """Drop the handle's sids (and books), unsubscribe them, and subscribe afresh (new snapshot)."""
        sids = self._drop_sids(handle)
        if sids:
            self._command("unsubscribe", {"sids": sids})
        sub = self._subs.get(handle)
        if sub is not None:
            self._send_subscribe(sub)
