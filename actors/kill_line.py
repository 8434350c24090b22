"""The kill switch's line to the exchange: a connection kept open so an emergency stop needs no new socket.

Out of file descriptors (a flood of connections, a leak), a cancel-all that has to open a connection fails
with ``ConnectError`` exactly when it matters. The guardian's client therefore connects at start
(:meth:`KillLine.prime`), keeps its connection warm with an unsigned public read whenever it has been idle
for ``KEEPALIVE_S`` (below the usual 5 s server idle timeout; nothing is taken from the key's rate budget),
and holds one spare descriptor: if the cancel-all still fails on the transport (the kept connection was
dropped and no new one could be opened), the spare is closed and the cancel-all sent once more (it is
idempotent), then the spare is taken again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from loguru import logger

from kalshi_guard.core.errors import Ambiguous

KEEPALIVE_S = 3.0
KEEPALIVE_EXPIRY_S = 60.0  # the client keeps an idle connection this long; the server's idle timeout decides
log = logger.bind(actor="guardian")


def _spare() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


class KillLine:
    """Wraps the guardian's ``KalshiClient``. Used only from the guardian's thread."""

    def __init__(self, client: Any, clock: Callable[[], float], interval_s: float = KEEPALIVE_S) -> None:
        self.client = client
        self.clock = clock
        self.interval_s = interval_s
        self.last_used = float("-inf")
        self.warm: bool | None = None
        self.spare = _spare()

    def prime(self) -> None:
        """Open the connection now (at start). A failure is logged; the next tick tries again."""
        self._ping()

    def tick(self) -> None:
        """Keep the connection warm: a keep-alive read when idle for ``interval_s``."""
        if self.clock() - self.last_used >= self.interval_s:
            self._ping()

    def _ping(self) -> None:
        ok = self.client.keepalive()
        self.last_used = self.clock()
        if ok != self.warm:
            if ok:
                log.info("kill switch: exchange connection open and kept warm")
            else:
                log.warning("kill switch: cannot reach the exchange to keep a connection open; retrying")
        self.warm = ok

    def cancel_all(self) -> None:
        """Cancel every resting order over the kept connection. On a transport failure (``Ambiguous``) it is
        sent once more with the spare descriptor freed; raises the ``ExchangeError`` of the last attempt."""
        try:
            self.client.cancel_all_orders()
        except Ambiguous as exc:
            log.error("kill switch: cancel-all failed ({!r}); once more with the spare descriptor", exc)
            self._free_spare()
            try:
                self.client.cancel_all_orders()
            finally:
                self.spare = _spare()
        finally:
            self.last_used = self.clock()

    def _free_spare(self) -> None:
        if self.spare is not None:
            with contextlib.suppress(OSError):
                os.close(self.spare)
            self.spare = None

    def close(self) -> None:
        """Give the spare descriptor back (the client is closed by its owner)."""
        self._free_spare()
