"""The control HTTP server: Starlette on uvicorn in its own thread, bearer-token auth, loopback by default.

Routes (all JSON):

- ``GET /api/health`` — no auth; ``{"status": "ok"}`` and nothing else.
- ``GET /api/status`` — the port's status (gate, children, restarts, mode), scrubbed of secrets.
- ``POST /api/bot/emergency-stop`` — optional ``{"reason": "…"}``; closes the gate before answering.
  A missing, malformed, too deep or too large body still stops, with a reason saying what was wrong
  with it (an emergency stop never fails on its paperwork).
- ``POST /api/bot/reset`` — ``{"reason": "…"}`` required (400 naming the field otherwise).

Every path except the public ones (``/api/health`` by default) needs ``Authorization: Bearer <token>``;
otherwise 401 with ``WWW-Authenticate: Bearer`` and the request never reaches a handler. This also holds
for ``extra_routes`` added by later features (order API, dashboard), so they are protected by default.
Port calls run in a worker thread, so a slow reset (it reconciles first) never delays an emergency
stop or a health check. Access lines go to loguru (never the Authorization header or a body).

Bodies: at most 64 KiB, counted while reading (413 beyond, before any parsing), JSON nested at most 32
levels (400 beyond); see :mod:`control.request_body`. A handler that raises answers 500 JSON naming only
the exception type. Reasons are stored and logged with the token and registered secrets masked and control
characters escaped (:func:`~control.request_body.clean_reason`).
"""

from __future__ import annotations

import resource
import socket
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import uvicorn
from loguru import logger
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from kalshi_guard.config.exposure import exposure_warning
from kalshi_guard.control.http_guard import AuthAndAccessLog, Json, scrub
from kalshi_guard.control.port import ControlPort
from kalshi_guard.control.request_body import MAX_BODY_BYTES, BodyCap, clean_reason, parse_json
from kalshi_guard.core.errors import GuardError
from kalshi_guard.web.guarded_http import ConnectionGuard, ConnectionLimits, guarded_protocol
from kalshi_guard.web.quiet_server import QuietServer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
PUBLIC_PATHS: frozenset[str] = frozenset({"/api/health"})
EMERGENCY_STOP_PATH = "/api/bot/emergency-stop"
# Served from the connection reserve when every slot is busy handling requests (see web/guarded_http.py).
RESERVED_PATHS: frozenset[str] = frozenset({"/api/health", EMERGENCY_STOP_PATH})
FD_HEADROOM = 256  # descriptors the rest of the daemon may need (ledger, logs, simulator, exchange clients)
DEFAULT_LIMITS = ConnectionLimits(max_connections=256, reserve=16, request_timeout_s=5.0, reserve_timeout_s=2.0,
                                  reserved_paths=RESERVED_PATHS)
# -- the app ----------------------------------------------------------------------------------------


async def _json_body(request: Request) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a small JSON object body. Returns (body or None when empty, error text or None); never raises
    (the size cap was enforced while reading, see :mod:`control.request_body`)."""
    capped = getattr(request.state, "body_error", None)
    if capped is not None:
        return None, capped
    body, problem = parse_json(await request.body())
    if problem is not None or body is None:
        return None, problem
    if not isinstance(body, dict):
        return None, "body must be a JSON object"
    return body, None


def build_app(
    port: ControlPort,
    token: str,
    extra_routes: Sequence[BaseRoute] = (),
    public_paths: Iterable[str] = PUBLIC_PATHS,
) -> ASGIApp:
    """The ASGI app (usable without a socket, e.g. by a later in-process client)."""

    def reply(content: Any, status_code: int = 200) -> Response:
        return Json(scrub(content, token), status_code=status_code)

    async def health(_request: Request) -> Response:
        return Json({"status": "ok"})

    async def status(_request: Request) -> Response:
        try:
            snapshot = await run_in_threadpool(port.status)
        except Exception as exc:  # the port failed: say so, without internals
            logger.exception("control: status failed")
            return reply({"error": "status unavailable", "detail": type(exc).__name__}, 503)
        return reply(snapshot)

    async def emergency_stop(request: Request) -> Response:
        reason = "emergency stop (HTTP API)"
        try:  # whatever the body, the stop happens
            body, problem = await _json_body(request)
            if body is not None and isinstance(body.get("reason"), str) and body["reason"].strip():
                reason = clean_reason(body["reason"], token)
            elif problem is not None:
                reason = f"emergency stop (HTTP API; {problem})"
        except Exception as exc:
            reason = f"emergency stop (HTTP API; body unreadable: {type(exc).__name__})"
        try:
            result = await run_in_threadpool(port.emergency_stop, "http", reason)
        except Exception as exc:
            logger.exception("control: emergency stop failed")
            return reply({"error": "emergency stop failed", "detail": type(exc).__name__}, 500)
        return reply({"ok": True, "result": result})

    async def reset(request: Request) -> Response:
        body, problem = await _json_body(request)
        if problem is not None:
            return reply({"error": problem}, 400)
        reason = body.get("reason") if body is not None else None
        if not isinstance(reason, str) or not reason.strip():
            return reply({"error": "field 'reason' is required (a non-empty string)", "field": "reason"}, 400)
        try:
            result = await run_in_threadpool(port.reset, "http", clean_reason(reason, token))
        except ValueError as exc:
            return reply({"error": str(exc), "field": "reason"}, 400)
        except GuardError as exc:
            refused: dict[str, Any] = {"error": "reset refused", "detail": str(exc)}
            if getattr(exc, "discrepancies", None):
                refused["discrepancies"] = list(exc.discrepancies)  # type: ignore[attr-defined]  # checked above
            return reply(refused, 409)
        except Exception as exc:
            logger.exception("control: reset failed")
            return reply({"error": "reset failed", "detail": type(exc).__name__}, 500)
        return reply({"ok": True, "result": result})

    async def limits(_request: Request) -> Response:
        getter = getattr(port, "limits", None)
        if getter is None:
            return reply({"error": "limits not served by this daemon"}, 404)
        try:
            readings = await run_in_threadpool(getter)
        except Exception as exc:
            logger.exception("control: limits failed")
            return reply({"error": "limits unavailable", "detail": type(exc).__name__}, 503)
        return reply({"limits": readings})

    routes: list[BaseRoute] = [
        Route("/api/health", health, methods=["GET"]),
        Route("/api/status", status, methods=["GET"]),
        Route("/api/limits", limits, methods=["GET"]),
        Route("/api/bot/emergency-stop", emergency_stop, methods=["POST"]),
        Route("/api/bot/reset", reset, methods=["POST"]),
        *extra_routes,
    ]
    app = Starlette(routes=routes, exception_handlers={Exception: _internal_error})
    capped = BodyCap(app, MAX_BODY_BYTES, always={EMERGENCY_STOP_PATH})
    return AuthAndAccessLog(capped, token, frozenset(public_paths))


async def _internal_error(_request: Request, exc: Exception) -> Response:
    """The answer to a handler that raised: 500 JSON naming only the exception type (no traceback)."""
    return Json({"error": "internal error", "detail": type(exc).__name__}, status_code=500)


# -- the server -------------------------------------------------------------------------------------


def limits_for(control: Any) -> ConnectionLimits:
    """The connection guard's limits from the ``[control]`` settings (max_connections, reserve_connections,
    request_timeout_s); the reserve gets at most 2 s to send its request."""
    return ConnectionLimits(max_connections=control.max_connections, reserve=control.reserve_connections,
                            request_timeout_s=control.request_timeout_s,
                            reserve_timeout_s=min(2.0, control.request_timeout_s), reserved_paths=RESERVED_PATHS)


class _Server(QuietServer):
    """uvicorn's server that sets an event once it is serving (or has given up), and idles quietly."""

    server_name = "control API"

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self._ready.set()


def _bind(host: str, port_number: int) -> socket.socket:
    """A listening TCP socket on ``host:port_number`` (0 = a free port). Raises ``OSError``."""
    infos = socket.getaddrinfo(host, port_number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, socktype, proto, _canon, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
        sock.set_inheritable(False)
    except OSError:
        sock.close()
        raise
    return sock


class ControlServer:
    """The control API in its own daemon thread.

    ``start()`` binds (raising ``OSError`` if the address is taken), starts the thread and returns once
    uvicorn is serving (``RuntimeError`` if it does not within ``start_timeout``). ``stop()`` asks uvicorn
    to exit and joins the thread. ``url`` is the real base URL (also for ``port_number=0``).

    Connections are guarded (web/guarded_http.py): at most ``limits.max_connections`` open (fitted under the
    process's file limit at start, keeping ``FD_HEADROOM`` for the rest of the daemon), waiting ones evicted
    for new ones, a reserve for health and emergency stop, and a request not complete within
    ``limits.request_timeout_s`` closed. Repeated accept errors are logged once per ``accept_log_interval_s``.
    """

    def __init__(
        self,
        port: ControlPort,
        *,
        host: str = DEFAULT_HOST,
        port_number: int = DEFAULT_PORT,
        token: str,
        extra_routes: Sequence[BaseRoute] = (),
        public_paths: Iterable[str] = PUBLIC_PATHS,
        start_timeout: float = 10.0,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        accept_log_interval_s: float = 10.0,
    ) -> None:
        if not token:
            raise ValueError("the control server needs a non-empty token")
        self.host = host
        self._requested_port = port_number
        self._start_timeout = start_timeout
        self.app = build_app(port, token, extra_routes, public_paths)
        self._limits = limits
        self._accept_log_interval_s = accept_log_interval_s
        self.guard: ConnectionGuard | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: _Server | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None
        self.bound_port: int | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` with the real port; raises ``RuntimeError`` before :meth:`start`."""
        if self.bound_port is None:
            raise RuntimeError("the control server has not been started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.bound_port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is alive and uvicorn reported itself started."""
        return bool(self._thread and self._thread.is_alive() and self._server and self._server.started)

    def start(self) -> None:
        """Bind, start serving in a thread, and return once listening. Raises ``OSError``/``RuntimeError``."""
        if self._thread is not None:
            raise RuntimeError("the control server was already started")
        sock = _bind(self.host, self._requested_port)
        self._sock = sock
        self.bound_port = int(sock.getsockname()[1])
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        limits = self._limits
        if soft != resource.RLIM_INFINITY:
            limits = limits.fitted(soft, FD_HEADROOM)
        if limits != self._limits:
            logger.warning("control API: the file limit ({}) allows {} connections (+{} reserved), not {}",
                           soft, limits.max_connections, limits.reserve, self._limits.max_connections)
        self.guard = ConnectionGuard(limits, "control API")
        config = uvicorn.Config(
            self.app,
            http=guarded_protocol(self.guard),
            backlog=128,  # also bounds asyncio's accept loop per wake-up (one EMFILE report per pending connection)
            lifespan="off",
            access_log=False,  # our middleware logs through loguru
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = _Server(config, self._ready)
        self._server.accept_log_interval_s = self._accept_log_interval_s
        self._thread = threading.Thread(target=self._run, name="control-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout) or not self._server.started:
            self.stop()
            detail = f": {type(self._error).__name__}: {self._error}" if self._error else ""
            raise RuntimeError(f"the control server did not start{detail}")
        logger.info("control API listening on {}", self.url)
        warning = exposure_warning(self.host, self.bound_port)
        if warning is not None:
            logger.warning("{}", warning)

    def _run(self) -> None:
        assert self._server is not None
        assert self._sock is not None
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # SystemExit from uvicorn's startup included
            self._error = exc
            logger.error("control server thread ended: {}: {}", type(exc).__name__, exc)
        finally:
            self._ready.set()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop serving and join the thread; returns whether it ended within ``timeout``. Idempotent."""
        server, thread = self._server, self._thread
        if server is not None:
            server.request_exit()
        ended = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
            ended = not thread.is_alive()
        if self._sock is not None:
            self._sock.close()
        return ended

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
