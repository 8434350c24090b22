"""Signal handling for the daemon's main thread (DESIGN §9, notes/ECOSYSTEM.md §5).

Handlers only assign attributes: no locks, no logging, no I/O, no raising (loguru would drop a log line
from a handler and could swallow an exception). ``signal.set_wakeup_fd`` makes the C-level handler write
the signal number to a socketpair at once, so the main loop, blocked in ``select`` on the other end,
wakes immediately and does the rest (persist, halt, alert, audit).

- SIGUSR1: emergency stop — closes the attached gate with one assignment (``close_nowait``). A SIGUSR1
  that arrives before the gate exists is remembered and applied when the gate is attached.
- SIGTERM, SIGINT: graceful ordered stop.
- SIGHUP: reload limits.
- SIGUSR2: a traceback of every thread on stderr, by ``faulthandler`` (works even if the main thread is
  stuck). pykka's own debug helper wants SIGUSR1; we do not use it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

from actors.gate import TradingGate

_USR1 = bytes([signal.SIGUSR1])


class SignalRouter:
    """Installs the handlers and exposes what arrived as plain flags for the main loop."""

    def __init__(self) -> None:
        self.gate: TradingGate | None = None
        self.stop_requested = False
        self.reload_requested = False
        self.early_emergency = False
        self.usr1_count = 0
        self.last_usr1_ns = 0  # perf_counter_ns() when the last SIGUSR1 closed the gate (benchmarks)
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._installed = False
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1

    def install(self) -> None:
        """Install every handler and the wakeup fd. Main thread only; call before anything else."""
        self._previous_fd = signal.set_wakeup_fd(self._wsock.fileno(), warn_on_full_buffer=False)
        for sig, handler in (
            (signal.SIGUSR1, self._on_usr1),
            (signal.SIGTERM, self._on_term),
            (signal.SIGINT, self._on_term),
            (signal.SIGHUP, self._on_hup),
        ):
            self._previous[sig] = signal.signal(sig, handler)
        faulthandler.register(signal.SIGUSR2, file=sys.stderr, all_threads=True, chain=False)
        self._installed = True

    def uninstall(self) -> None:
        """Restore the handlers that were there before :meth:`install` (tests and clean exit)."""
        if not self._installed:
            return
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(self._previous_fd)
        faulthandler.unregister(signal.SIGUSR2)
        self._installed = False

    def attach(self, gate: TradingGate) -> None:
        """From now on SIGUSR1 closes ``gate``; an earlier SIGUSR1 closes it now. The gate also gets
        :meth:`usr1_pending` as its probe, so a SIGUSR1 refuses orders before its Python handler runs."""
        self.gate = gate
        gate.set_probe(self.usr1_pending)
        if self.early_emergency:
            gate.close_nowait("emergency stop (SIGUSR1 during start-up)", "signal")

    @property
    def wakeup_socket(self) -> socket.socket:
        """The read end: readable whenever a signal arrived or :meth:`wake` was called."""
        return self._rsock

    def wake(self) -> None:
        """Wake the main loop from another thread (e.g. the HTTP server)."""
        with contextlib.suppress(BlockingIOError, OSError):
            self._wsock.send(b"\0")

    def usr1_pending(self) -> bool:
        """True while a SIGUSR1 byte sits unread in the wakeup socket (written by the C-level handler
        before any Python code runs; drained by the main loop only after the Python handler has closed
        the gate). One non-blocking ``recv(MSG_PEEK)``: no lock, no GIL wait on the main thread."""
        try:
            data = self._rsock.recv(256, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, OSError):
            return False
        return _USR1 in data

    def drain(self) -> bytes:
        """Read and return whatever woke the loop (signal numbers as bytes)."""
        out = b""
        with contextlib.suppress(BlockingIOError, OSError):
            while True:
                chunk = self._rsock.recv(4096)
                if not chunk:
                    break
                out += chunk
        return out

    def close(self) -> None:
        """Close the socketpair (after :meth:`uninstall`)."""
        self._rsock.close()
        self._wsock.close()

    # -- handlers: assignments only -------------------------------------------------------------

    def _on_usr1(self, _signum: int, _frame: FrameType | None) -> None:
        self.usr1_count += 1
        gate = self.gate
        if gate is None:
            self.early_emergency = True
        else:
            gate.close_nowait()
        self.last_usr1_ns = time.perf_counter_ns()

    def _on_term(self, _signum: int, _frame: FrameType | None) -> None:
        self.stop_requested = True

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_requested = True
