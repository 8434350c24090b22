"""A dependency-free sd_notify client: READY, STATUS, STOPPING, RELOADING and the watchdog ping."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from loguru import logger

# A STATUS= line is one line of free text; keep it short so one datagram always fits.
_MAX_STATUS_CHARS = 480


def _address(raw: str) -> str | bytes | None:
    """Map ``$NOTIFY_SOCKET`` to a connect() address; ``None`` for what we cannot speak (vsock, relative)."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None


def _one_line(text: str) -> str:
    """Flatten ``text`` into one STATUS= line (newlines would start a new assignment)."""
    flat = " ".join(str(text).split())
    return flat[:_MAX_STATUS_CHARS]


class Notifier:
    """Talks to the service manager over ``$NOTIFY_SOCKET``; a no-op when it is unset.

    Each message is a fresh ``AF_UNIX``/``SOCK_DGRAM`` socket (connect + send + close), so a manager that
    restarts its socket never leaves us with a stale descriptor. Send failures never raise: they are
    counted in :attr:`errors` and logged once (a broken notify socket must not take the daemon down; a
    missed ``WATCHDOG=1`` will make systemd act, which is the right outcome).
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = _address(raw) if raw else None
        self._clock = clock
        self._interval = self._parse_watchdog(env)
        self._last_ping: float | None = None
        self._lock = threading.Lock()
        self._logged = False
        self.errors = 0
        self.sent = 0
        if raw and self._address is None:
            logger.warning("NOTIFY_SOCKET has an unsupported form; sd_notify disabled")

    @staticmethod
    def _parse_watchdog(env: Mapping[str, str]) -> float | None:
        raw_usec = env.get("WATCHDOG_USEC", "")
        if not raw_usec:
            return None
        pid = env.get("WATCHDOG_PID", "")
        if pid:
            try:
                if int(pid) != os.getpid():
                    return None  # inherited from a parent; not addressed to us
            except ValueError:
                return None
        try:
            usec = int(raw_usec)
        except ValueError:
            return None
        if usec <= 0:
            return None
        return usec / 2_000_000.0

    # -- properties -------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether a notify socket is configured (otherwise every call is a no-op)."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or ``None`` when not armed.

        ``None`` too when ``$WATCHDOG_PID`` names another process or the value does not parse.
        """
        return self._interval

    # -- messages ---------------------------------------------------------------------------------

    def notify(self, *assignments: str) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines. Returns whether it was handed to the kernel.

        Never raises: errors are counted and the first one is logged (without the payload).
        """
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(payload)
        except OSError as exc:
            with self._lock:
                self.errors += 1
                first = not self._logged
                self._logged = True
            if first:
                logger.warning("sd_notify send failed ({}); further failures are only counted", exc)
            return False
        with self._lock:
            self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1`` (start-up or a reload finished), optionally with a ``STATUS=`` line."""
        lines = ["READY=1"]
        if status is not None:
            lines.append(f"STATUS={_one_line(status)}")
        return self.notify(*lines)

    def status(self, text: str) -> bool:
        """``STATUS=<text>`` shown by ``systemctl status`` (flattened to one line)."""
        return self.notify(f"STATUS={_one_line(text)}")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: shutdown has begun."""
        lines = ["STOPPING=1"]
        if status is not None:
            lines.append(f"STATUS={_one_line(status)}")
        return self.notify(*lines)

    def reloading(self) -> bool:
        """``RELOADING=1`` with ``MONOTONIC_USEC``; follow it with :meth:`ready` when the reload is done."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def watchdog(self) -> bool:
        """One ``WATCHDOG=1`` ping, unconditionally (prefer :meth:`maybe_watchdog`)."""
        ok = self.notify("WATCHDOG=1")
        if ok:
            self._last_ping = self._clock()
        return ok

    def maybe_watchdog(self, healthy: bool, now: float | None = None) -> bool:
        """Ping if ``healthy`` and an interval has passed since the last ping; returns whether it did.

        Called every supervisor tick with the health of all children. While unhealthy nothing is sent,
        so systemd's watchdog fires if the condition lasts longer than ``WatchdogSec``.
        """
        if not healthy or self._interval is None or self._address is None:
            return False
        now = self._clock() if now is None else now
        last = self._last_ping
        if last is not None and now - last < self._interval:
            return False
        if self.notify("WATCHDOG=1"):
            self._last_ping = now
            return True
        return False
