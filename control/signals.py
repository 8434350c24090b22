"""Signal handling for the daemon's main thread (docs/architecture.md §5, §9).

Handlers only assign attributes: no locks, no logging, no I/O, no raising (loguru would drop a log line
from a handler and could swallow an exception). ``signal.set_wakeup_fd`` makes the C-level handler write
the signal number to a socketpair at once, so the main loop, blocked in ``select`` on the other end,
wakes immediately and does the rest (persist, halt, alert, audit).

- SIGUSR1: emergency stop — closes the attached gate with one assignment (``close_nowait``). A SIGUSR1
  that arrives before the gate exists is remembered and applied when the gate is attached.

Where SIGUSR1 lands. A signal sent to the process goes to the main thread when it can take it; the main
thread sleeps in ``select``, and on a busy machine the kernel may take milliseconds to run it, so the
C-level handler (which writes the wakeup byte the send point probes) would wait with it. So
:meth:`SignalRouter.install` blocks SIGUSR1 in the main thread, every thread started afterwards inherits
that, and the order placer's thread unblocks it (:meth:`SignalRouter.take_usr1_here`): the kernel then
delivers SIGUSR1 to the one thread that sends orders, and that thread runs the C-level handler before it
executes its next instruction — an order can no longer reach the send point after the signal without
meeting the closed gate. The Python-level handler still runs on the main thread, as CPython requires.
While no thread takes SIGUSR1 (start-up before the placer, a placer being restarted) it stays pending in
the kernel, not lost: :meth:`SignalRouter.drain`, called by the main loop at least every tick, takes it
with ``sigtimedwait`` and applies it (the gate is NOT_READY in those windows, so nothing is sent meanwhile).
- SIGTERM, SIGINT: graceful ordered stop.
- SIGHUP: reload limits.
- SIGUSR2: a traceback of every thread on stderr, by ``faulthandler`` (works even if the main thread is
  stuck). pykka's own debug helper wants SIGUSR1; we do not use it.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from kalshi_guard.core.gate import TradingGate

_USR1 = bytes([signal.SIGUSR1])
_USR1_SET = {signal.SIGUSR1}
_PEEK_FLAGS = socket.MSG_PEEK | socket.MSG_DONTWAIT
_PEEK_SIZE = 256


def _gil_holding_peek(fd: int) -> Callable[[], bytes] | None:
    """A non-blocking ``recv(fd, MSG_PEEK)`` that keeps the GIL for the microsecond it takes.

    ``socket.recv`` releases the GIL around every system call, so a send-point check made through it
    would hand the interpreter to other threads and have to win it back (milliseconds with busy actors)
    before it could refuse. libc's ``recv`` called through ``ctypes.PyDLL`` does not release it; with
    ``MSG_DONTWAIT`` it cannot block. Returns None where libc's ``recv`` cannot be found (the caller then
    falls back to ``socket.recv``).
    """
    try:
        recv = ctypes.PyDLL(None).recv
    except (OSError, AttributeError):
        return None
    recv.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    recv.restype = ctypes.c_ssize_t

    def peek() -> bytes:
        buf = ctypes.create_string_buffer(_PEEK_SIZE)  # per call: concurrent probes never share one
        n = recv(fd, buf, _PEEK_SIZE, _PEEK_FLAGS)
        return buf.raw[:n] if n > 0 else b""

    return peek


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
        self._peek = _gil_holding_peek(self._rsock.fileno()) or self._socket_peek
        self._installed = False
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1
        self._previous_mask: set[int] | None = None

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
        # the main thread, and every thread started from now on, leaves SIGUSR1 to the order placer's thread
        self._previous_mask = set(signal.pthread_sigmask(signal.SIG_BLOCK, _USR1_SET))
        self._installed = True

    @staticmethod
    def take_usr1_here() -> None:
        """Make the calling thread the one SIGUSR1 is delivered to (the order placer calls this in its own
        thread at start; see the module doc). Harmless where no router is installed."""
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _USR1_SET)

    def uninstall(self) -> None:
        """Restore the handlers that were there before :meth:`install` (tests and clean exit)."""
        if not self._installed:
            return
        self._take_pending_usr1()  # a SIGUSR1 still pending must not meet the default action (termination)
        if self._previous_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous_mask)
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
        the gate). One non-blocking ``recv(MSG_PEEK)`` that keeps the GIL: no lock, no wait for the main
        thread, and the calling thread does not give up the interpreter at the send point."""
        return _USR1 in self._peek()

    def _socket_peek(self) -> bytes:
        try:
            return self._rsock.recv(_PEEK_SIZE, _PEEK_FLAGS)
        except (BlockingIOError, OSError):
            return b""

    def drain(self) -> bytes:
        """Read and return whatever woke the loop (signal numbers as bytes). Also applies a SIGUSR1 that no
        thread has taken (none unblocks it right now): it is taken from the kernel and handled here."""
        self._take_pending_usr1()
        out = b""
        with contextlib.suppress(BlockingIOError, OSError):
            while True:
                chunk = self._rsock.recv(4096)
                if not chunk:
                    break
                out += chunk
        return out

    def _take_pending_usr1(self) -> None:
        if not self._installed or signal.SIGUSR1 not in signal.sigpending():
            return
        if signal.sigtimedwait(_USR1_SET, 0) is not None:  # None: a thread took it meanwhile
            self._on_usr1(signal.SIGUSR1, None)

    def close(self) -> None:
        """Close the socketpair (after :meth:`uninstall`); the probe then reports nothing pending (its fd
        number may be reused by another file)."""
        self._peek = bytes
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
