"""uvicorn with a slower idle tick that still stops at once (the control server and the simulator use it).

uvicorn wakes every 0.1 s to poll ``should_exit``; :class:`QuietServer` waits ``IDLE_TICK_S`` instead (an
idle paper daemon, which runs both servers, stays under 1 % of a core) and :meth:`QuietServer.request_exit`
wakes it at once. The tick counter advances in tenths, so uvicorn's once-a-second housekeeping (date header,
request limits) still runs on every pass.
"""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

IDLE_TICK_S = 0.5


class QuietServer(uvicorn.Server):
    """See the module doc. ``request_exit`` is thread-safe; before the loop runs it only sets the flag."""

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
