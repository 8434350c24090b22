"""The simulator's WebSocket API at ``/trade-api/ws/v2``: commands, channels, seq, heartbeat, stream faults."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from kalshi_guard.simulator.engine import Event
from kalshi_guard.simulator.faults import StreamFault
from kalshi_guard.simulator.wire import ApiError

if TYPE_CHECKING:
    from kalshi_guard.simulator.context import SimContext

WS_PATH = "/trade-api/ws/v2"
# subscribe name -> (msg types it carries, sequenced, private)
CHANNELS: dict[str, tuple[tuple[str, ...], bool, bool]] = {
    "orderbook_delta": (("orderbook_snapshot", "orderbook_delta"), True, False),
    "ticker": (("ticker",), False, False),
    "trade": (("trade",), True, False),
    "fill": (("fill",), False, True),
    "user_orders": (("user_order",), False, True),
    "market_positions": (("market_position",), False, True),
    "market_lifecycle_v2": (("market_lifecycle_v2",), True, False),
    "order_group_updates": (("order_group_updates",), True, True),
}
KIND_TO_CHANNEL = {kind: ch for ch, (kinds, _s, _p) in CHANNELS.items() for kind in kinds}
PRIVATE_STREAM = ("fill", "user_orders", "market_positions")


@dataclass(slots=True)
class Sub:
    """One subscription: channel, optional market filter, its seq counter."""

    sid: int
    channel: str
    tickers: set[str] | None
    seq: int = 0
    after_event: int = 0  # orderbook: ignore deltas already contained in the snapshot


@dataclass(slots=True, eq=False)
class Conn:
    """One client connection."""

    ws: WebSocket
    account: str
    subs: dict[int, Sub] = field(default_factory=dict)
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    held: str | None = None  # a private message held back to be reordered


class WsHub:
    """All connections; the exchange listener (called under the exchange lock, from any thread)."""

    def __init__(self, ctx: SimContext, ping_interval_s: float = 10.0) -> None:
        self.ctx = ctx
        self.ping_interval_s = ping_interval_s
        self.conns: set[Conn] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._sids = itertools.count(1)
        self._event_no = 0
        self._lock = threading.Lock()
        self.pings_sent = 0
        self._closing: set[asyncio.Future[None]] = set()
        ctx.exchange.listeners.append(self.publish)

    def routes(self) -> list[WebSocketRoute]:
        """The one WebSocket route."""
        return [WebSocketRoute(WS_PATH, self.endpoint)]

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (events are dispatched there)."""
        self.loop = loop

    # ---- exchange side ------------------------------------------------------------------------

    def publish(self, ev: Event) -> None:
        """Exchange listener: number the event and hand it to the loop (never blocks)."""
        self._event_no += 1
        loop = self.loop
        if loop is not None and not loop.is_closed() and self.conns:
            fault = None  # decided now, in publish order, so it is deterministic under the seed
            faults = self.ctx.exchange.faults
            if KIND_TO_CHANNEL.get(ev.kind) in PRIVATE_STREAM and faults.stream_active:
                fault = faults.stream_decision()
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._dispatch, ev, self._event_no, fault)

    def _dispatch(self, ev: Event, number: int, fault: StreamFault | None = None) -> None:
        channel = KIND_TO_CHANNEL.get(ev.kind)
        if channel is None:
            return
        _kinds, sequenced, private = CHANNELS[channel]
        payload = ev.payload
        for conn in list(self.conns):
            if private and ev.account != conn.account:
                continue
            for sub in conn.subs.values():
                if sub.channel != channel or (sub.tickers is not None and ev.ticker not in sub.tickers):
                    continue
                if number <= sub.after_event:
                    continue
                msg = payload
                if ev.kind == "orderbook_delta":
                    msg = {k: v for k, v in payload.items() if not k.startswith("_")}
                    if payload.get("_owner") == conn.account:
                        msg["client_order_id"] = payload["_coid"]
                frame: dict[str, Any] = {"type": ev.kind, "sid": sub.sid}
                if sequenced:
                    sub.seq += 1
                    frame["seq"] = sub.seq
                frame["msg"] = msg
                text = json.dumps(frame, separators=(",", ":"))
                if fault is not None:
                    self._faulty_put(conn, text, fault)
                else:
                    conn.queue.put_nowait(text)

    def _faulty_put(self, conn: Conn, text: str, f: StreamFault) -> None:
        if f.drop:
            return
        out = [text, text] if f.duplicate else [text]
        if f.reorder and conn.held is None:
            conn.held = text  # goes out after the next private message
            return
        if conn.held is not None:
            out.append(conn.held)
            conn.held = None
        if f.delay_s and self.loop is not None:
            for t in out:
                self.loop.call_later(f.delay_s, conn.queue.put_nowait, t)
            return
        for t in out:
            conn.queue.put_nowait(t)

    # ---- connection side ----------------------------------------------------------------------

    async def endpoint(self, ws: WebSocket) -> None:
        """Authenticate the upgrade, then serve commands until the client leaves."""
        try:
            account = self.ctx.keys.authenticate(ws.headers, "GET", WS_PATH)
        except ApiError as err:
            body = json.dumps(err.body()).encode()
            await ws.send_denial_response(Response(body, status_code=err.status, media_type="application/json"))
            return
        await ws.accept()
        conn = Conn(ws, account)
        self.conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        pinger = asyncio.create_task(self._pinger(conn))
        try:
            while True:
                text = await ws.receive_text()
                self._command(conn, text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.conns.discard(conn)
            conn.queue.put_nowait(None)
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    async def _writer(self, conn: Conn) -> None:
        while True:
            text = await conn.queue.get()
            if text is None:
                return
            try:
                await conn.ws.send_text(text)
            except Exception:
                return

    async def _pinger(self, conn: Conn) -> None:
        """Ping frames with payload ``heartbeat`` every ``ping_interval_s`` (uvicorn's protocol object)."""
        proto = conn.ws.scope.get("sim.ws_protocol")
        while True:
            await asyncio.sleep(self.ping_interval_s)
            c = getattr(proto, "conn", None)
            transport = getattr(proto, "transport", None)
            if c is None or transport is None or transport.is_closing():
                return
            c.send_ping(b"heartbeat")
            transport.write(b"".join(c.data_to_send()))
            self.pings_sent += 1

    def close_all(self) -> None:
        """Forced disconnect of every connection (loop thread)."""
        for conn in list(self.conns):
            self.conns.discard(conn)
            conn.queue.put_nowait(None)
            task = asyncio.ensure_future(self._close(conn))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close(self, conn: Conn) -> None:
        with contextlib.suppress(Exception):
            await conn.ws.close(code=1011)

    def disconnect_all(self) -> None:
        """Forced disconnect of every connection; callable from any thread."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.close_all)

    # ---- commands -----------------------------------------------------------------------------

    def _send(self, conn: Conn, frame: dict[str, Any]) -> None:
        conn.queue.put_nowait(json.dumps(frame, separators=(",", ":")))

    def _error(self, conn: Conn, cid: Any, code: int, msg: str) -> None:
        self._send(conn, {"id": cid, "type": "error", "msg": {"code": code, "msg": msg}})

    def _command(self, conn: Conn, text: str) -> None:
        try:
            cmd = json.loads(text)
        except ValueError:
            self._error(conn, None, 1, "Unable to process message")
            return
        if not isinstance(cmd, dict):
            self._error(conn, None, 1, "Unable to process message")
            return
        cid, name, params = cmd.get("id"), cmd.get("cmd"), cmd.get("params") or {}
        if name == "subscribe":
            self._subscribe(conn, cid, params)
        elif name == "unsubscribe":
            sids = params.get("sids")
            if not sids:
                self._error(conn, cid, 4, "Sids required")
                return
            for sid in sids:
                sub = conn.subs.pop(sid, None)
                if sub is None:
                    self._error(conn, cid, 7, "Unknown subscription ID")
                    continue
                sub.seq += 1  # the AsyncAPI requires seq on every unsubscribed frame, sequenced channel or not
                self._send(conn, {"id": cid, "sid": sid, "seq": sub.seq, "type": "unsubscribed"})
        elif name == "update_subscription":
            self._update(conn, cid, params)
        elif name == "list_subscriptions":
            self._send(conn, {"id": cid, "type": "ok",
                              "msg": [{"channel": s.channel, "sid": s.sid} for s in conn.subs.values()]})
        else:
            self._error(conn, cid, 5, "Unknown command")

    @staticmethod
    def _tickers(params: dict[str, Any]) -> set[str] | None:
        tickers = list(params.get("market_tickers") or [])
        if params.get("market_ticker"):
            tickers.append(params["market_ticker"])
        return set(tickers) if tickers else None

    def _subscribe(self, conn: Conn, cid: Any, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if not channels:
            self._error(conn, cid, 3, "Channels required")
            return
        tickers = self._tickers(params)
        for ch in channels:
            if ch not in CHANNELS:
                self._error(conn, cid, 8, "Unknown channel name")
                continue
            if ch == "orderbook_delta" and not tickers:
                self._error(conn, cid, 14, "Market Ticker required")
                continue
            sub = Sub(next(self._sids), ch, tickers)
            conn.subs[sub.sid] = sub
            self._send(conn, {"id": cid, "type": "subscribed", "msg": {"channel": ch, "sid": sub.sid}})
            if ch == "orderbook_delta":
                self._snapshots(conn, sub, sorted(tickers or ()))

    def _snapshots(self, conn: Conn, sub: Sub, tickers: list[str], cid: Any = None) -> None:
        ex = self.ctx.exchange
        with ex.lock:
            sub.after_event = self._event_no
            for t in tickers:
                if t not in ex.markets:
                    continue
                yes, no = ex.books[t].orderbook_fp()
                msg: dict[str, Any] = {"market_ticker": t, "market_id": ex.markets[t].market_id}
                if yes:
                    msg["yes_dollars_fp"] = yes
                if no:
                    msg["no_dollars_fp"] = no
                sub.seq += 1
                frame: dict[str, Any] = {"type": "orderbook_snapshot", "sid": sub.sid, "seq": sub.seq, "msg": msg}
                if cid is not None:
                    frame["id"] = cid
                self._send(conn, frame)

    def _update(self, conn: Conn, cid: Any, params: dict[str, Any]) -> None:
        sids = params.get("sids") or ([params["sid"]] if params.get("sid") else [])
        if len(sids) != 1:
            self._error(conn, cid, 12, "Exactly one subscription ID is required")
            return
        sub = conn.subs.get(sids[0])
        if sub is None:
            self._error(conn, cid, 7, "Unknown subscription ID")
            return
        action = params.get("action")
        tickers = self._tickers(params) or set()
        if action is None:
            self._error(conn, cid, 15, "Action required")
            return
        if action == "get_snapshot" and sub.channel == "orderbook_delta":
            self._snapshots(conn, sub, sorted(tickers), cid)
            return
        if action == "add_markets":
            sub.tickers = (sub.tickers or set()) | tickers
        elif action == "delete_markets":
            sub.tickers = (sub.tickers or set()) - tickers
        else:
            self._error(conn, cid, 13, "Action not supported")
            return
        frame: dict[str, Any] = {"id": cid, "sid": sub.sid, "type": "ok",
                                 "msg": {"market_tickers": sorted(sub.tickers or ())}}
        if CHANNELS[sub.channel][1]:
            sub.seq += 1
            frame["seq"] = sub.seq
        self._send(conn, frame)
        if action == "add_markets" and sub.channel == "orderbook_delta":
            self._snapshots(conn, sub, sorted(tickers))
