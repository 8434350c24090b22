"""The account survives a clean restart and a SIGKILL of a standalone ``kalshi-guard sim`` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_guard.exchange.keys import load_private_key
from kalshi_guard.simulator.testing import ORDERS, SignedClient, order_body, running_simulator


class _Remote:
    """Just enough of a SimulatorServer for SignedClient: URL and key."""

    def __init__(self, rest_url: str, key_id: str, key_path: Path) -> None:
        self.rest_url = rest_url
        self.key_id = key_id
        self.private_key = load_private_key(key_path)


def _start_cli(tmp_path: Path) -> tuple[subprocess.Popen[str], _Remote]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "control.cli", "sim", "--port", "0", "--state-file", str(tmp_path / "state.jsonl"),
         "--key-dir", str(tmp_path / "keys"), "--liquidity-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    info: dict[str, str] = {}
    assert proc.stdout is not None
    while "Private key file" not in info:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"sim exited early: {proc.stderr.read() if proc.stderr else ''}")
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return proc, _Remote(info["REST URL"], info["API key id"], Path(info["Private key file"]))


class TestPersistence:
    def test_clean_restart_keeps_account(self, tmp_path):
        """Positions, resting orders, spent client ids and the key id survive a clean restart."""
        kw = {"state_file": tmp_path / "s.jsonl", "key_dir": tmp_path / "k"}
        with running_simulator(**kw) as sim, SignedClient(sim) as c:
            c.post(ORDERS, order_body(price="0.99", count="2.00", tif="immediate_or_cancel"))
            body = order_body(price="0.10")
            resting = c.post(ORDERS, body).json()["order_id"]
            key_id, balance = sim.key_id, c.get("/portfolio/balance").json()
        with running_simulator(**kw) as sim, SignedClient(sim) as c:
            assert sim.key_id == key_id
            assert c.get("/portfolio/balance").json()["balance_dollars"] == balance["balance_dollars"]
            assert c.get("/portfolio/positions").json()["market_positions"][0]["position_fp"] == "2.00"
            assert c.get(f"/portfolio/orders/{resting}").json()["order"]["status"] == "resting"
            assert c.post(ORDERS, body).status_code == 409

    @pytest.mark.timeout(90)
    def test_sigkill_loses_nothing_acknowledged(self, tmp_path):
        """Every acknowledged create survives SIGKILL of the standalone simulator process."""
        proc, remote = _start_cli(tmp_path)
        try:
            with SignedClient(remote) as c:  # type: ignore[arg-type]
                ids = [c.post(ORDERS, order_body(price="0.10", count="1.00")).json()["order_id"] for _ in range(20)]
                filled = c.post(ORDERS, order_body(price="0.99", count="3.00", tif="immediate_or_cancel"))
                assert filled.json()["fill_count"] == "3.00"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        proc, remote = _start_cli(tmp_path)
        try:
            with SignedClient(remote) as c:  # type: ignore[arg-type]
                resting = {o["order_id"] for o in c.get("/portfolio/orders?status=resting&limit=100").json()["orders"]}
                assert set(ids) <= resting
                assert c.get("/portfolio/positions").json()["market_positions"][0]["position_fp"] == "3.00"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
