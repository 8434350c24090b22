"""A control server in a process that has used up its file descriptors (run by test_quiet_server.py).

Prints ``PORT <n>`` once listening and ``STARVED`` once every descriptor is taken; then waits for stdin to
close. Log lines go to stderr, where the test counts them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from loguru import logger

from kalshi_guard.control.server import ControlServer
from kalshi_guard.core.gate import TradingGate


class GatePort:
    """A ControlPort over a real gate."""

    def __init__(self) -> None:
        self.gate = TradingGate()

    def status(self) -> dict[str, Any]:
        return {"gate": self.gate.snapshot().state.value}

    def emergency_stop(self, source: str, reason: str) -> dict[str, Any]:
        return {"gate": self.gate.close(reason, source).state.value}

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        return {"gate": self.gate.reset(reason, source).state.value}


def main() -> None:
    logger.remove()
    logger.add(sys.stderr, level="INFO", format="{level} {message}")
    interval = float(sys.argv[1])
    srv = ControlServer(GatePort(), port_number=0, token="t" * 32, accept_log_interval_s=interval)
    srv.start()
    print("PORT", srv.bound_port, flush=True)
    hoard = []
    try:
        while True:
            hoard.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    print("STARVED", flush=True)
    sys.stdin.read()
    for fd in hoard:
        os.close(fd)
    srv.stop()


if __name__ == "__main__":
    main()
