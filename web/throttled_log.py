"""One log line per interval for an event that can repeat thousands of times a second (accept errors, timeouts).

The first occurrence is written at once; later ones inside the interval are only counted, and when the
interval ends one line gives the count. An interval with no occurrence closes the window, so the next one is
again written at once. Runs on an asyncio loop (the server's): ``note`` must be called from the loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class ThrottledLog:
    """``emit(count, first)`` writes the line: ``first`` for the opening occurrence, else the interval's count.

    ``emit`` must not raise (a failure is swallowed: logging never breaks the server).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interval_s: float, emit: Callable[[int, bool], None]) -> None:
        self._loop = loop
        self.interval_s = interval_s
        self._emit = emit
        self._pending = 0
        self._open = False
        self.total = 0

    def note(self) -> None:
        """Count one occurrence; write it now when no window is open."""
        self.total += 1
        if self._open:
            self._pending += 1
            return
        self._open = True
        self._write(1, first=True)
        self._loop.call_later(self.interval_s, self._close_window)

    def _close_window(self) -> None:
        if self._pending == 0:
            self._open = False
            return
        count, self._pending = self._pending, 0
        self._write(count, first=False)
        self._loop.call_later(self.interval_s, self._close_window)

    def _write(self, count: int, *, first: bool) -> None:
        with contextlib.suppress(Exception):  # a log line must never take the server down
            self._emit(count, first)
