"""The paper/live switch against the real daemon, with a standalone simulator standing in for the live
exchange: refused without a passing checklist, with a wrong word, with a reused challenge; accepted with
them, audited; orders reach the "live" exchange only after the operator's reset; the mode survives a
restart; back to paper is one step."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from kalshi_guard.ledger import Ledger

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TICKER = "KXSIMCPI-26DEC-T30"


def write_config(path: Path, sim_info: dict[str, str]) -> Path:
    path.write_text(f"""
[alerts]
discord_webhook_url = "http://127.0.0.1:9/api/webhooks/1/stand-in"
[golive]
paper_hours = 0
[[golive.stages]]
name = "week 1"
max_order_count = "1"
[golive.exchange]
environment = "demo"
base_url = "{sim_info['rest_url']}"
ws_url = "{sim_info['ws_url']}"
key_id = "{sim_info['key_id']}"
private_key_file = "{sim_info['private_key_file']}"
""")
    return path


def seed_checklist(state: Path) -> None:
    """What an operator's drill, test alert and verified restore leave in the ledger (each command has its
    own tests); the switch under test reads them through the real checklist."""
    state.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.open(f"sqlite:///{state / 'ledger.sqlite'}")
    try:
        ledger.log_activity("DRILL", "INFO", "drill passed", {})
        ledger.log_activity("TEST_ALERT", "INFO", "test alert", {"channel": "discord", "ok": True})
        ledger.log_activity("RESTORE_VERIFIED", "info", "restore verified", {})
    finally:
        ledger.close()


def live_orders(sim_info: dict[str, str]) -> list[dict]:
    from kalshi_guard.exchange.keys import load_private_key
    from kalshi_guard.exchange.signing import Signer

    signer = Signer(sim_info["key_id"], load_private_key(Path(sim_info["private_key_file"])))
    path = "/trade-api/v2/portfolio/orders"
    r = httpx.get(sim_info["rest_url"] + "/portfolio/orders", headers=signer.headers("GET", path), timeout=10,
                  trust_env=False)
    r.raise_for_status()
    return r.json()["orders"]


def test_the_live_switch(daemon_factory, standalone_sim, tmp_path):
    sim = standalone_sim.info
    d = daemon_factory()
    config = write_config(tmp_path / "config.toml", sim)

    # without a passing checklist (no reconciliation recorded yet is fine: the daemon's start records one,
    # but no drill, alert test or verified restore) the confirm is refused
    d.start(config)
    d.wait_ready()
    assert d.api("POST", "/api/mode", token=None, json={"mode": "live"}).status_code == 401
    step1 = d.api("POST", "/api/mode", json={"mode": "live"}).json()
    assert step1["preflight"]["ok"] is False
    refused = d.api("POST", "/api/mode", json={"mode": "live", "challenge": step1["challenge"], "confirm": "LIVE"})
    assert refused.status_code == 409
    assert "drill" in refused.json()["error"]
    d.stop()

    seed_checklist(d.state)
    d.start(config)
    d.wait_ready()
    step1 = d.api("POST", "/api/mode", json={"mode": "live"}).json()
    assert step1["preflight"]["ok"] is True, json.dumps(step1["preflight"], indent=1)
    wrong = d.api("POST", "/api/mode", json={"mode": "live", "challenge": step1["challenge"], "confirm": "live"})
    assert wrong.status_code == 400
    reused = d.api("POST", "/api/mode", json={"mode": "live", "challenge": step1["challenge"], "confirm": "LIVE"})
    assert reused.status_code == 410  # the wrong word spent it
    assert d.api("GET", "/api/status").json()["mode"] == "paper"

    step1 = d.api("POST", "/api/mode", json={"mode": "live"}).json()
    pid = d.proc.pid
    accepted = d.api("POST", "/api/mode", json={"mode": "live", "challenge": step1["challenge"], "confirm": "LIVE"})
    assert accepted.status_code == 200, accepted.text
    d.wait_ready()  # the same process, re-executed: READY=1 again after the reconciliation on the live exchange
    status = d.api("GET", "/api/status").json()
    assert (status["mode"], status["pid"], d.proc.pid) == ("live", pid, pid)
    assert status["exchange"]["base_url"] == sim["rest_url"]
    assert status["gate"]["state"] == "HALTED"
    assert "switching to LIVE" in status["gate"]["reason"]

    market = httpx.get(f"{sim['rest_url']}/markets/{TICKER}", timeout=10, trust_env=False).json()["market"]
    order = {"ticker": TICKER, "outcome": "yes", "action": "buy", "count": "1", "price": market["yes_ask_dollars"],
             "time_in_force": "ioc"}
    held = d.api("POST", "/api/orders", json=order)
    assert held.status_code == 409
    assert live_orders(sim) == []  # nothing reached the live exchange before the reset
    assert d.api("POST", "/api/bot/reset", json={"reason": "live switch reviewed"}).status_code == 200
    assert d.api("POST", "/api/orders", json=order).json()["status"] == "FILLED"
    assert len(live_orders(sim)) == 1

    d.stop()  # the chosen mode survives a restart
    d.start(config)
    d.wait_ready()
    assert d.api("GET", "/api/status").json()["mode"] == "live"

    back = d.api("POST", "/api/mode", json={"mode": "paper"})
    assert back.status_code == 200
    d.wait_ready()
    assert d.api("GET", "/api/status").json()["mode"] == "paper"
    ledger = Ledger.open(f"sqlite:///{d.state / 'ledger.sqlite'}")
    try:
        modes = [a.details["mode"] for a in reversed(ledger.activity("MODE"))]
    finally:
        ledger.close()
    assert modes == ["live", "paper"]
