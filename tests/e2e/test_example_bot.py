"""examples/simple_bot.py against the real daemon: it trades through the API, and stops when the gate is HALTED."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from .conftest import Daemon

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

BOT = Path(__file__).resolve().parents[2] / "examples" / "simple_bot.py"
LINE = re.compile(r"^(\d)\. .*: (FILLED|PARTIAL|CANCELED|REJECTED|TIMEOUT|UNKNOWN)")
COID = re.compile(r"\[([A-Za-z0-9_-]+)\]$")


def run_bot(d: Daemon, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BOT), "--url", d.url, *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, check=False)


def started(daemon_factory: Callable[..., Daemon]) -> Daemon:
    d = daemon_factory()
    d.start()
    d.wait_ready()
    return d


class TestSimpleBot:
    def test_the_bot_trades_and_its_orders_are_in_the_ledger(self, daemon_factory: Callable[..., Daemon]) -> None:
        """With the default paper config the bot exits 0 and every order it printed is in the ledger as printed."""
        d = started(daemon_factory)
        # the default token file is found from the state directory, as `kalshi-guard status` finds it
        done = run_bot(d, env={"KALSHI_GUARD_STATE_DIR": str(d.state)})
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        printed = [(m.group(1), m.group(2), COID.search(nxt).group(1))  # type: ignore[union-attr]
                   for line, nxt in pairwise(lines) if (m := LINE.match(line))]
        assert [p[0] for p in printed] == ["1", "2", "3", "4"], done.stdout
        assert printed[2][1] == "CANCELED", "the resting order was cancelled"
        assert printed[2][2].startswith("example-rest-")
        for _, status, coid in printed:
            row = d.api("GET", f"/api/orders/{coid}")
            assert row.status_code == 200, coid
            assert row.json()["status"] == status
        assert "open positions:" in done.stdout
        assert d.token() not in done.stdout + done.stderr

    def test_the_bot_stops_at_once_when_the_gate_is_halted(self, daemon_factory: Callable[..., Daemon]) -> None:
        """After an emergency stop the bot exits 3 without placing anything."""
        d = started(daemon_factory)
        assert d.api("POST", "/api/bot/emergency-stop", json={"reason": "bot drill"}).status_code == 200
        done = run_bot(d, "--token-file", str(d.state / "control-token"))
        assert done.returncode == 3, done.stdout + done.stderr
        assert "HALTED" in done.stdout
        assert d.api("GET", "/api/orders").json()["orders"] == []

    def test_a_wrong_token_is_a_clean_failure(self, daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
        """A token the daemon does not accept makes the bot exit 1 with the HTTP status, not a traceback."""
        d = started(daemon_factory)
        bad = tmp_path / "wrong-token"
        bad.write_text("x" * 43)
        done = run_bot(d, "--token-file", str(bad))
        assert done.returncode == 1
        assert "HTTP 401" in done.stderr
        assert "Traceback" not in done.stderr
