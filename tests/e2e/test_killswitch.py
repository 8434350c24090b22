"""The kill switch through the real daemon's doors: GET /api/limits and ``kalshi-guard status`` show the six
triggers; reset is refused while ACTIVE and with a wrong token; ``kalshi-guard drill`` ends flat and is
recorded in the activity log; a stop whose write failed is written later and holds across a restart."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.waiting import wait_until

from .conftest import EXE, Daemon, restart

CODES = {"DAILY_LOSS", "LOSING_STREAK", "API_ERROR_RATE", "ORPHAN", "MANUAL", "PORTFOLIO_DROP"}


def ledger_of(d: Daemon):
    from kalshi_guard.ledger.store import Ledger

    return Ledger.open(f"sqlite:///{d.state / 'ledger.sqlite'}")


class TestLimitsAndReset:
    def test_limits_are_served_and_reset_needs_a_halted_gate_and_the_token(
        self, daemon_factory: Callable[..., Daemon]
    ) -> None:
        """Every trigger has a code, config key, value, limit and distance; ``status`` prints them. A reset
        while ACTIVE is 409 and changes nothing; a wrong token is 401; after a stop the reset is accepted
        once (one RESET row), and a second one is 409 again."""
        d = daemon_factory()
        d.start()
        d.wait_ready()
        limits = wait_until(lambda: (r := d.api("GET", "/api/limits")).status_code == 200
                            and len(r.json()["limits"]) == 6 and r.json()["limits"], what="six readings")
        assert {x["code"] for x in limits} == CODES
        for x in limits:
            assert {"config_key", "value", "limit", "distance", "action"} <= set(x)
        assert d.api("GET", "/api/limits", token=None).status_code == 401
        out = subprocess.run([EXE, "status"], env=d.env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert "DAILY_LOSS" in out.stdout
        assert "limits.max_daily_loss" in out.stdout

        r = d.api("POST", "/api/bot/reset", json={"reason": "nothing to reset"})
        assert r.status_code == 409
        assert d.status()["gate"]["state"] == "ACTIVE"
        d.api("POST", "/api/bot/emergency-stop", json={"reason": "drill"})
        assert d.status()["gate"]["state"] == "HALTED"
        assert d.api("POST", "/api/bot/reset", token="x" * 43, json={"reason": "x"}).status_code == 401
        assert d.status()["gate"]["state"] == "HALTED"
        led = ledger_of(d)
        try:
            wait_until(lambda: led.activity("KILL_SWITCH", limit=5), what="the stop's KILL_SWITCH row")
            r = d.api("POST", "/api/bot/reset", json={"reason": "reviewed"})
            assert r.status_code == 200, r.text
            assert d.status()["gate"]["state"] == "ACTIVE"
            assert d.api("POST", "/api/bot/reset", json={"reason": "again"}).status_code == 409
            assert len(led.activity("RESET", limit=5)) == 1
            assert len(led.activity("KILL_SWITCH", limit=5)) == 1
        finally:
            led.close()


class TestDrill:
    def test_the_drill_ends_flat_and_is_recorded(self, tmp_path: Path) -> None:
        """``kalshi-guard drill`` (embedded simulator) exits 0, prints the three figures and writes one DRILL
        row with them to the configured ledger."""
        import os

        state = tmp_path / "state"
        env = dict(os.environ, KALSHI_GUARD_STATE_DIR=str(state))
        out = subprocess.run([EXE, "drill"], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr[-2000:]
        assert "trip -> flat" in out.stdout
        from kalshi_guard.ledger.store import Ledger

        led = Ledger.open(f"sqlite:///{state / 'ledger.sqlite'}")
        try:
            rows = led.activity("DRILL", limit=5)
        finally:
            led.close()
        assert len(rows) == 1
        assert rows[0].details["ok"] is True
        assert rows[0].details["trip_to_flat_ms"] is not None


class TestLedgerOutage:
    def test_a_stop_whose_write_failed_is_written_later_and_holds_across_a_restart(
        self, daemon_factory: Callable[..., Daemon], tmp_path: Path
    ) -> None:
        """Another process holds the ledger's write lock (a stuck backup, a CLI) when the emergency stop
        comes: the gate closes at once but its write fails after the busy timeout. Once the lock is gone
        the guardian writes the owed HALTED, so a clean restart (``systemctl restart``: SIGTERM) comes back
        HALTED with the stop's reason instead of trading. Checked against a gate that forgot a failed
        write: the restarted daemon came back ACTIVE ("start-up complete"). (After a ``kill -9`` it came
        back HALTED either way: an unclean shutdown latches the gate.)"""
        state = tmp_path / "state"
        d = daemon_factory(state)
        d.start()
        d.wait_ready()
        lock = sqlite3.connect(state / "ledger.sqlite", isolation_level=None, timeout=30)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            stop = d.api("POST", "/api/bot/emergency-stop", json={"reason": "outage drill"})
            assert stop.status_code == 200, stop.text
            assert d.status()["gate"]["state"] == "HALTED"
            wait_until(lambda: "gate persist failed during the stop" in d.stderr(), timeout=30,
                       what="the stop's gate write to fail")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        wait_until(lambda: "HALTED (outage drill) is persisted now" in d.stderr(), timeout=30,
                   what="the owed gate write")
        gate = restart(d, daemon_factory, signal.SIGTERM).status()["gate"]
        assert (gate["state"], gate["reason"]) == ("HALTED", "outage drill")
