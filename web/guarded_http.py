"""uvicorn's HTTP protocol with a connection cap and a request deadline, so held-open sockets cannot starve it.

uvicorn (httptools) arms no timer before a request is complete: a client that sends half a request line and
waits holds a file descriptor for ever, and ``limit_concurrency`` is only checked once the headers are in, so
1,000 such sockets exhaust the default 1,024-file limit. :func:`guarded_protocol` returns a protocol class
bound to one :class:`ConnectionGuard` (one per server) that adds:

- a **request deadline**: from the connection's first byte of a request (or from ``connection_made``) until
  the request is complete (headers and body), ``request_timeout_s``; past it the connection is closed.
  Idle keep-alive connections are still closed by uvicorn's ``timeout_keep_alive``;
- a **cap** of ``max_connections`` open connections. A connection beyond the cap first evicts the oldest
  connection that is only waiting (no request being handled: a half-sent or idle one), so a flood of
  held-open sockets cannot keep a health check or an emergency stop out;
- a **reserve** of ``reserve`` further connections when every slot is busy handling requests: they serve
  only ``reserved_paths`` (health, emergency stop), with ``reserve_timeout_s`` to send their request, and
  are closed after the answer; anything else there gets 503;
- beyond cap and reserve, a canned ``503`` and the connection is closed at once (its fd is freed).

Closures past a deadline, evictions and refusals are logged once per interval with a count
(:class:`ThrottledLog`), never per connection.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, ClassVar

from loguru import logger
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kalshi_guard.web.throttled_log import ThrottledLog

log = logger.bind(actor="http")
LOG_INTERVAL_S = 10.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The guard's settings. ``max_connections`` counts every open connection, waiting or busy."""

    max_connections: int = 256
    reserve: int = 16
    request_timeout_s: float = 5.0
    reserve_timeout_s: float = 2.0
    reserved_paths: frozenset[str] = field(default_factory=frozenset)
    log_interval_s: float = LOG_INTERVAL_S

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.reserve < 0:
            raise ValueError("max_connections must be at least 1 and reserve at least 0")
        if self.request_timeout_s <= 0 or self.reserve_timeout_s <= 0:
            raise ValueError("request timeouts must be positive")

    def fitted(self, fd_soft_limit: int, headroom: int) -> ConnectionLimits:
        """These limits with cap + reserve shrunk to fit ``fd_soft_limit - headroom`` (the rest of the process
        needs ``headroom`` descriptors); at least one connection and no reserve when nothing is left."""
        room = max(1, fd_soft_limit - headroom)
        if self.max_connections + self.reserve <= room:
            return self
        reserve = min(self.reserve, room // 16)
        return replace(self, max_connections=max(1, room - reserve), reserve=reserve)


class Admission(Enum):
    """What a new connection gets."""

    SLOT = "slot"
    RESERVE = "reserve"
    REFUSED = "refused"


class ConnectionGuard:
    """The shared state of one server's connections. Used only from the server's event loop thread."""

    def __init__(self, limits: ConnectionLimits, name: str = "http") -> None:
        self.limits = limits
        self.name = name
        self.open: set[Any] = set()
        self.waiting: OrderedDict[Any, None] = OrderedDict()  # evictable: no request in the app, oldest first
        self.reserve_open = 0
        self._logs: dict[str, ThrottledLog] = {}

    def admit(self, proto: Any) -> Admission:
        """Take a slot (evicting the oldest waiting connection if full), a reserve place, or refuse."""
        limits = self.limits
        if len(self.open) >= limits.max_connections and self.waiting:
            victim, _ = self.waiting.popitem(last=False)
            self.open.discard(victim)
            self.count("evicted", "closed {n} waiting connection(s) to make room (cap {cap})")
            victim.evict()
        if len(self.open) < limits.max_connections:
            self.open.add(proto)
            return Admission.SLOT
        if self.reserve_open < limits.reserve:
            self.reserve_open += 1
            return Admission.RESERVE
        self.count("refused", "refused {n} connection(s) with 503: {cap} busy and the reserve full")
        return Admission.REFUSED

    def release(self, proto: Any, *, reserve: bool) -> None:
        """The connection is gone (idempotent per connection; the protocol calls it once)."""
        self.waiting.pop(proto, None)
        if reserve:
            self.reserve_open -= 1
        else:
            self.open.discard(proto)

    def count(self, kind: str, text: str) -> None:
        """One occurrence of ``kind``; logged at once, then once per interval with the count."""
        throttle = self._logs.get(kind)
        if throttle is None:
            cap = self.limits.max_connections
            name = self.name

            def emit(n: int, first: bool) -> None:
                when = "" if first else f" in the last {self.limits.log_interval_s:g}s"
                log.warning("{}: " + text + "{}", name, when, n=n, cap=cap)

            throttle = ThrottledLog(asyncio.get_running_loop(), self.limits.log_interval_s, emit)
            self._logs[kind] = throttle
        throttle.note()

    def totals(self) -> dict[str, int]:
        """How many of each kind so far (evicted, refused, timed_out)."""
        return {kind: t.total for kind, t in self._logs.items()}


_REFUSAL = json.dumps({"error": "server busy", "detail": "too many connections; try again"}).encode()
_REFUSAL_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_REFUSAL)).encode() + b"\r\n\r\n" + _REFUSAL
)


def _reserve_app(app: Any, paths: frozenset[str]) -> Any:
    """Serve only ``paths`` (and close the connection after the answer); 503 for anything else."""

    async def reserve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path") in paths:
            async def send_closing(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
                await send(message)

            await app(scope, receive, send_closing)
            return
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1"),
                                (b"connection", b"close"), (b"content-length", str(len(_REFUSAL)).encode())]})
        await send({"type": "http.response.body", "body": _REFUSAL})

    return reserve


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """See the module doc. Subclassed per server by :func:`guarded_protocol` (``guard`` set)."""

    guard: ClassVar[ConnectionGuard]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._evicted = False
        self._admission = self.guard.admit(self)
        if self._admission is Admission.REFUSED:
            transport.write(_REFUSAL_RESPONSE)
            transport.close()
            return
        if self._admission is Admission.RESERVE:
            self.app = _reserve_app(self.app, self.guard.limits.reserved_paths)
        self._await_request()

    def _await_request(self) -> None:
        """Start the request deadline; the connection is evictable until its headers are in."""
        limits = self.guard.limits
        if self._admission is Admission.SLOT:
            self.guard.waiting[self] = None
        timeout = limits.reserve_timeout_s if self._admission is Admission.RESERVE else limits.request_timeout_s
        self._cancel_deadline()
        self._deadline = self.loop.call_later(timeout, self._request_timed_out)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _request_timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.guard.count("timed_out", "closed {n} connection(s) whose request was not complete in time")
            self.transport.close()

    def evict(self) -> None:
        """Close this waiting connection to make room (called by the guard, which already forgot it)."""
        self._evicted = True
        self._cancel_deadline()
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and not self.transport.is_closing() and (
            self.cycle is None or self.cycle.response_complete
        ):
            self._await_request()  # the next request on a kept-alive connection starts its own clock
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self.guard.waiting.pop(self, None)  # the app has the request now: no longer evictable
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._admission is Admission.SLOT and not self.transport.is_closing() and not self._evicted:
            self.guard.waiting[self] = None  # idle keep-alive: evictable (uvicorn's keep-alive timer runs)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._admission is not Admission.REFUSED and not self._evicted:
            self.guard.release(self, reserve=self._admission is Admission.RESERVE)
        elif self._evicted:
            self.guard.waiting.pop(self, None)
        super().connection_lost(exc)


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` whose connections share ``guard``."""
    return type("GuardedHttp", (GuardedHttpToolsProtocol,), {"guard": guard})
