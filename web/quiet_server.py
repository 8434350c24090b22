"""uvicorn with a slower idle tick that still stops at once, and accept errors logged once per interval
(the control server and the simulator use it).

uvicorn wakes every 0.1 s to poll ``should_exit``; :class:`QuietServer` waits ``IDLE_TICK_S`` instead (an
idle paper daemon, which runs both servers, stays under 1 % of a core) and :meth:`QuietServer.request_exit`
wakes it at once. The tick counter advances in tenths, so uvicorn's once-a-second housekeeping (date header,
request limits) still runs on every pass.

Out of file descriptors, asyncio's accept loop reports ``EMFILE`` once per pending connection per pass (up to
the listen backlog, each with a traceback): hundreds of megabytes of log in a minute. The server's loop gets
an exception handler that counts those and writes one line per ``ACCEPT_LOG_INTERVAL_S`` with the count;
every other loop error goes to asyncio's default handler as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from typing import Any

import uvicorn
from loguru import logger

from kalshi_guard.web.throttled_log import ThrottledLog

IDLE_TICK_S = 0.5
ACCEPT_LOG_INTERVAL_S = 10.0
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def is_accept_resource_error(context: dict[str, Any]) -> bool:
    """Whether an asyncio exception-handler context is an accept that ran out of descriptors or memory."""
    exc = context.get("exception")
    return isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS and "accept" in str(context.get("message", ""))


def install_accept_throttle(loop: asyncio.AbstractEventLoop, name: str,
                            interval_s: float = ACCEPT_LOG_INTERVAL_S) -> ThrottledLog:
    """Route ``loop``'s accept resource errors to one line per ``interval_s``; other errors as before."""

    last = {"errno": errno.EMFILE}

    def emit(count: int, first: bool) -> None:
        if first:
            logger.error("{}: cannot accept connections: {} (out of file descriptors?); repeats are counted "
                         "and logged every {:g}s", name, errno.errorcode.get(last["errno"], "?"), interval_s)
        else:
            logger.error("{}: accept failed {} more time(s) in the last {:g}s ({})", name, count, interval_s,
                         errno.errorcode.get(last["errno"], "?"))

    throttle = ThrottledLog(loop, interval_s, emit)
    previous = loop.get_exception_handler()

    def handler(the_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if is_accept_resource_error(context):
            last["errno"] = context["exception"].errno
            throttle.note()
            return
        if "_start_serving" in repr(context.get("handle")) and isinstance(context.get("exception"), ValueError):
            return  # a retry of accept that asyncio scheduled per failure, firing after the server closed
        if previous is not None:
            previous(the_loop, context)
        else:
            the_loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return throttle


class QuietServer(uvicorn.Server):
    """See the module doc. ``request_exit`` is thread-safe; before the loop runs it only sets the flag."""

    server_name = "http server"
    accept_log_interval_s = ACCEPT_LOG_INTERVAL_S

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.accept_errors = install_accept_throttle(asyncio.get_running_loop(), self.server_name,
                                                     self.accept_log_interval_s)
        await super().startup(sockets=sockets)

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_TICK_S)
            should_exit = await self.on_tick(counter)

    def request_exit(self) -> None:
        """Ask the server to stop and wake its loop now (thread-safe)."""
        self.should_exit = True
        loop, wake = getattr(self, "_loop", None), getattr(self, "_wake", None)
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)
