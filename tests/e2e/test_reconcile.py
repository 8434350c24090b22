"""The daemon's reconciliation doors, end to end: start-up waits for a complete pass (NOT_READY with the
reason in status), ``POST /api/reconcile`` / ``GET /api/reconcile/last`` / ``kalshi-guard reconcile``, and a
reset refused (409 with the standing discrepancies) until a pass is clean."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
from collections.abc import Callable

import pytest

from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from tests.e2e.conftest import EXE, Daemon, StandaloneSim
from tests.waiting import wait_until

T0 = DEFAULT_TICKERS[0]


STARTUP_FAULTS = {
    "500": {"error_5xx_next": {"get_positions": 100000}},
    "timeout": {"timeout_after_accept": {"get_fills": 100000}, "timeout_hold_s": 2.0},
    "short page": {"short_page": {"get_orders": 100000}},
}


class TestStartup:
    @pytest.mark.parametrize("fault", sorted(STARTUP_FAULTS))
    def test_a_failing_read_keeps_the_gate_not_ready_with_the_reason_then_it_opens(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim, fault: str
    ) -> None:
        """A 500, a timeout or a partial page at start-up: no READY, gate NOT_READY, status says why; once
        the exchange answers properly the retried pass lets the gate open."""
        standalone_sim.admin("POST", "/faults", json=STARTUP_FAULTS[fault])
        d = daemon_factory(**standalone_sim.daemon_env(), KALSHI_GUARD_EXCHANGE__REQUEST_TIMEOUT_S="0.5")
        d.start()
        d.wait_notify("waiting for start-up reconciliation", timeout=60)
        status = d.status()
        assert status["ready"] is False
        assert status["gate"]["state"] == "NOT_READY"
        assert "exchange read failed" in status["startup_reconcile"]["reason"]
        last = d.api("GET", "/api/reconcile/last").json()
        assert last["ok"] is False
        assert "exchange read failed" in last["error"]
        standalone_sim.admin("DELETE", "/faults")
        d.wait_ready()
        assert d.status()["gate"]["state"] == "ACTIVE"


class TestDoors:
    def test_reconcile_on_demand_needs_the_token_and_reports(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim
    ) -> None:
        d = daemon_factory(**standalone_sim.daemon_env())
        d.start()
        d.wait_ready()
        assert d.api("POST", "/api/reconcile", token=None).status_code == 401
        assert d.api("GET", "/api/reconcile/last", token="wrong").status_code == 401
        report = d.api("POST", "/api/reconcile").json()
        for key in ("ok", "started_at", "duration_ms", "pages", "discrepancies"):
            assert key in report
        assert report["ok"] is True
        assert report["discrepancies"] == []
        assert d.api("GET", "/api/reconcile/last").json()["started_at"] == report["started_at"]
        standalone_sim.admin("POST", "/faults", json={"stream_drop_rate": 1.0})  # the fill watcher never sees it
        standalone_sim.admin("POST", "/external/trade", json={"ticker": T0, "side": "yes", "count": "4",
                                                               "price": "0.40"})
        out = subprocess.run([EXE, "reconcile", "--json"], env=d.env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stderr
        rows = json.loads(out.stdout)["discrepancies"]
        assert [(r["kind"], r["ticker"], r["action"]) for r in rows] == [("orphan_fill", T0, "halt")]
        wait_until(lambda: d.status()["gate"]["state"] == "HALTED", what="the orphan switch to trip")


class TestReset:
    def test_a_reset_is_refused_while_a_discrepancy_stands_and_accepted_once_resolved(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim
    ) -> None:
        """A trade outside the daemon: the reset's own pass books it and refuses (409 naming the orphan fill);
        the next pass is clean and the reset is accepted."""
        d = daemon_factory(**standalone_sim.daemon_env())
        d.start()
        d.wait_ready()
        assert d.api("POST", "/api/bot/emergency-stop", json={"reason": "test"}).status_code == 200
        wait_until(lambda: "after kill-switch stop" in (d.api("GET", "/api/reconcile/last").json().get("reason") or ""),
                   what="the pass every kill-switch stop runs")
        standalone_sim.admin("POST", "/faults", json={"stream_drop_rate": 1.0})  # the fill watcher never sees it
        standalone_sim.admin("POST", "/external/trade", json={"ticker": T0, "side": "no", "count": "2",
                                                               "price": "0.40"})
        refused = d.api("POST", "/api/bot/reset", json={"reason": "reviewed"})
        assert refused.status_code == 409
        body = refused.json()
        assert [(r["kind"], r["ticker"]) for r in body["discrepancies"]] == [("orphan_fill", T0)]
        assert d.status()["gate"]["state"] == "HALTED"
        accepted = d.api("POST", "/api/bot/reset", json={"reason": "reviewed: the outside trade is ours now"})
        assert accepted.status_code == 200, accepted.text
        assert d.status()["gate"]["state"] == "ACTIVE"


class TestTriggers:
    def test_a_stream_reconnect_runs_a_pass(
        self, daemon_factory: Callable[..., Daemon], standalone_sim: StandaloneSim
    ) -> None:
        """Messages may be lost across a reconnect: the pass that follows books the trade the stream never
        brought (and trips: its order is not ours)."""
        d = daemon_factory(**standalone_sim.daemon_env())
        d.start()
        d.wait_ready()
        standalone_sim.admin("POST", "/faults", json={"stream_drop_rate": 1.0})
        standalone_sim.admin("POST", "/external/trade", json={"ticker": T0, "side": "yes", "count": "2",
                                                               "price": "0.40"})
        standalone_sim.admin("DELETE", "/faults")
        standalone_sim.admin("POST", "/disconnect")
        def after_reconnect() -> dict | None:
            """The report of the pass the reconnect asked for, from the ledger's record of every pass: the pass
            the trip asks for next may already have replaced ``/api/reconcile/last`` (seen once under load)."""
            with contextlib.closing(sqlite3.connect(d.state / "ledger.sqlite")) as conn:
                rows = conn.execute("SELECT summary FROM reconciliation_runs ORDER BY id").fetchall()
            reports = [json.loads(summary).get("report") or {} for (summary,) in rows]
            return next((r for r in reports if r.get("reason") == "stream reconnected"), None)

        last = wait_until(after_reconnect, what="a pass after the reconnect")
        assert [(x["kind"], x["ticker"]) for x in last["discrepancies"]] == [("orphan_fill", T0)]
        wait_until(lambda: d.status()["gate"]["state"] == "HALTED", what="the orphan switch to trip")
