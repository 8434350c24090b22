"""The operator's dashboard: the page, its data routes and its live event stream.

Routes (mounted into the control server by the daemon):

- ``GET /``, ``GET /favicon.ico`` and ``GET /static/{dashboard.js,dashboard.css}`` — public: the sign-in
  page and its code, which hold no data. Every answer carries a strict Content-Security-Policy (``default-src 'none'``;
  scripts, styles and fetches only from this origin; no inline script or style; no framing).
- ``GET /api/account`` — the account view (:mod:`kalshi_guard.control.account`).
- ``GET /api/dashboard`` — everything the page shows at once: status, account, recent orders, fills,
  alerts and activity rows.
- ``GET /api/events`` — the same snapshot as server-sent events (``event: snapshot``) each time it
  changes, and an ``event: ping`` every :data:`PING_S` seconds so the page can tell a quiet daemon from
  a dead stream. A committed ledger write (every order step, fill, gate change and alert) wakes the
  stream at once; at most one snapshot is built per :data:`MIN_GAP_S`, and what changes without a ledger
  write (an actor's restart, readiness) is looked for every :data:`POLL_S`. The browser reads it with
  ``fetch()`` and the bearer header (``EventSource`` cannot send headers, and the token never goes in a
  URL or a cookie).

Everything but the public page needs the bearer token (the server's middleware checks it before a
handler runs). The page changes state only through the existing POST routes with the bearer header, so
there is no cookie and no CSRF. Answers are scrubbed of secrets like every control-server answer.

Failure: a snapshot whose parts cannot be read carries ``errors`` naming them (the page shows them);
the stream keeps going and the page marks itself stale when no event arrives for a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from loguru import logger
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from kalshi_guard.control.account import AccountView
from kalshi_guard.control.http_guard import scrub
from kalshi_guard.control.port import ControlPort
from kalshi_guard.core import observe

STATIC = Path(__file__).with_name("static")
ASSETS = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
PUBLIC_PATHS = frozenset({"/", "/favicon.ico", *(f"/static/{name}" for name in ASSETS)})
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
POLL_S = 0.5  # how often the stream looks for a change no ledger write announced
MIN_GAP_S = 0.2  # at most one snapshot this often while the ledger is busy (the < 1 s goal rests on it)
REFRESH_S = 15.0  # a full snapshot at least this often: balance and marks move on the exchange unannounced
PING_S = 2.0
RECENT = 15
_VOLATILE = ("uptime_s", "as_of")  # change every poll; not a change of state


def _asset(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _stable(snapshot: dict[str, Any]) -> str:
    """The snapshot's text without the fields that tick by themselves (for change detection)."""
    status = {k: v for k, v in (snapshot.get("status") or {}).items() if k not in _VOLATILE}
    account = {k: v for k, v in (snapshot.get("account") or {}).items() if k not in _VOLATILE}
    return json.dumps({**snapshot, "status": status, "account": account, "at": None}, sort_keys=True)


class LedgerChanges:
    """Counts committed ledger writes (from :mod:`kalshi_guard.core.observe`): a cheap "did anything change",
    and calls each watcher (on the writer's thread; a watcher must be quick and never raise)."""

    def __init__(self) -> None:
        self.count = 0
        self._watchers: tuple[Callable[[], None], ...] = ()
        self._leave = observe.subscribe(self._on_event)

    def _on_event(self, kind: str, _fields: Any) -> None:
        if kind == "ledger_write":
            self.count += 1  # a lost increment under a race still changes the value: enough to look again
            for watcher in self._watchers:
                watcher()

    def watch(self, watcher: Callable[[], None]) -> Callable[[], None]:
        """Call ``watcher`` after every committed write; returns the function that stops it."""
        self._watchers = (*self._watchers, watcher)

        def leave() -> None:
            self._watchers = tuple(w for w in self._watchers if w is not watcher)

        return leave

    @property
    def watching(self) -> int:
        """How many watchers are registered (each open event stream has one)."""
        return len(self._watchers)

    def close(self) -> None:
        """Stop counting."""
        self._leave()


class _Wake:
    """Wakes one stream's loop from any thread, once per wait however many writes land (one
    ``call_soon_threadsafe`` per wait, not per write)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()
        self._armed = True

    def __call__(self) -> None:
        if self._armed:
            self._armed = False
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> None:
        """Until woken or ``timeout`` seconds pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
        self._armed = True


class DashboardFeed:
    """Builds the page's snapshot from the control port, the account view and the ledger.

    ``version`` is a cheap, in-memory fingerprint (ledger writes, gate, children): the stream builds a
    full snapshot only when it changed or every :data:`REFRESH_S` seconds, so an open page costs an idle
    daemon almost nothing. Without it every poll builds a snapshot. ``watch`` (see
    :meth:`LedgerChanges.watch`) wakes the stream when the ledger changes; without it the stream polls.
    """

    def __init__(self, port: ControlPort, account: AccountView, ledger: Any,
                 version: Callable[[], Any] | None = None,
                 watch: Callable[[Callable[[], None]], Callable[[], None]] | None = None) -> None:
        self.port = port
        self.account = account
        self.ledger = ledger
        self.version = version or time.monotonic
        self.watch = watch

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows. A part that fails is ``None`` and named in ``errors``."""
        errors: list[str] = []

        def part(name: str, read: Callable[[], Any]) -> Any:
            try:
                return read()
            except Exception as exc:
                logger.warning("dashboard: {} unavailable: {}", name, type(exc).__name__)
                errors.append(f"{name} unavailable ({type(exc).__name__})")
                return None

        led = self.ledger
        return {
            "at": time.time(),
            "status": part("status", self.port.status),
            "account": part("account", self.account.build),
            "orders": part("orders", lambda: [_order(o) for o in led.orders(None, limit=RECENT, newest_first=True)]),
            "fills": part("fills", lambda: led.recent_fills(RECENT)),
            "alerts": part("alerts", lambda: led.recent_alerts(RECENT)),
            "activity": part("activity", lambda: led.activity(limit=RECENT)),
            "errors": errors,
        }


def _order(o: Any) -> dict[str, Any]:
    return {"client_order_id": o.client_order_id, "ticker": o.ticker, "outcome": o.outcome, "action": o.action,
            "count": o.count, "price": o.price, "status": o.status, "filled_count": o.filled_count,
            "fees": o.fees, "reason": o.reason, "created_at": o.created_at}


def dashboard_routes(feed: DashboardFeed, token: str, *, poll_s: float = POLL_S, ping_s: float = PING_S,
                     refresh_s: float = REFRESH_S, min_gap_s: float = MIN_GAP_S) -> list[BaseRoute]:
    """The dashboard's routes; ``token`` only to scrub it from any answer."""

    def page(body: bytes, media_type: str) -> Response:
        return Response(body, media_type=media_type, headers=SECURITY_HEADERS)

    def as_json(content: Any, status_code: int = 200) -> Response:
        body = json.dumps(scrub(content, token), separators=(",", ":")).encode()
        return Response(body, status_code=status_code, media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    async def index(_request: Request) -> Response:
        return page(_asset("index.html"), "text/html; charset=utf-8")

    async def favicon(_request: Request) -> Response:
        return Response(status_code=204, headers=SECURITY_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return as_json({"error": "not found"}, 404)
        return page(_asset(name), ASSETS[name])

    async def account(_request: Request) -> Response:
        try:
            return as_json(await run_in_threadpool(feed.account.build))
        except Exception as exc:
            logger.exception("dashboard: account view failed")
            return as_json({"error": "account unavailable", "detail": type(exc).__name__}, 503)

    async def dashboard(_request: Request) -> Response:
        return as_json(await run_in_threadpool(feed.snapshot))

    async def events(request: Request) -> Response:
        # Starlette ends the stream when the client goes (it listens for the disconnect beside it)
        async def stream() -> AsyncIterator[bytes]:
            wake = _Wake(asyncio.get_running_loop())
            leave = feed.watch(wake) if feed.watch is not None else None
            last = None
            last_sent = last_built = 0.0
            seen: Any = object()
            try:
                yield b"retry: 1000\n\n"
                while True:
                    now = time.monotonic()
                    version = feed.version()
                    if version != seen or now - last_built >= refresh_s:
                        seen, last_built = version, now
                        snap = scrub(await run_in_threadpool(feed.snapshot), token)
                        key = _stable(snap)
                        if key != last:
                            last, last_sent = key, now
                            body = json.dumps(snap, separators=(",", ":")).encode()
                            yield b"event: snapshot\ndata: " + body + b"\n\n"
                    if now - last_sent >= ping_s:
                        last_sent = now
                        yield f"event: ping\ndata: {time.time():.3f}\n\n".encode()
                    await wake.wait(max(0.0, min(poll_s, ping_s - (time.monotonic() - last_sent))))
                    gap = last_built + min_gap_s - time.monotonic()
                    if gap > 0:  # the ledger may be busy: one snapshot a gap at most
                        await asyncio.sleep(gap)
            finally:
                if leave is not None:
                    leave()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return [
        Route("/", index, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/static/{name}", asset, methods=["GET"]),
        Route("/api/account", account, methods=["GET"]),
        Route("/api/dashboard", dashboard, methods=["GET"]),
        Route("/api/events", events, methods=["GET"]),
    ]
