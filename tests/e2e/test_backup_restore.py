"""Backups against the real daemon: taken online while a bot trades hard, verified, refused as a restore
while the daemon runs, and restored to a ledger identical row for row that the next start reconciles."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from .conftest import EXE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TICKER = "KXSIMCPI-26DEC-T30"


def rows_of(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}  # noqa: S608


def backup_file(out: str) -> Path:
    (line,) = [ln for ln in out.splitlines() if ln.startswith("file ")]
    return Path(line.split(None, 1)[1])


def test_backup_under_load_then_restore(daemon_factory, tmp_path):
    d = daemon_factory(KALSHI_GUARD_LIMITS__MAX_CONSECUTIVE_LOSSES="1000")  # the round trips lose the spread
    d.start()
    d.wait_ready()
    exchange = d.api("GET", "/api/status").json()["exchange"]["base_url"]
    market = httpx.get(f"{exchange}/markets/{TICKER}", timeout=10, trust_env=False).json()["market"]
    ask, bid = market["yes_ask_dollars"], market["yes_bid_dollars"]
    stop, sent = threading.Event(), []
    token = d.token()

    def bot(action: str, price: str) -> None:  # IOC buys and sells in turn keep the position small
        with httpx.Client(base_url=d.url, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                          trust_env=False) as c:
            while not stop.is_set():
                r = c.post("/api/orders", json={"ticker": TICKER, "outcome": "yes", "action": action, "count": "1",
                                                "price": price, "time_in_force": "ioc"})
                sent.append(r.status_code)

    bots = [threading.Thread(target=bot, args=a) for a in (("buy", ask), ("sell", bid), ("buy", ask), ("sell", bid))]
    for b in bots:
        b.start()
    try:
        d_ready = d.api("GET", "/api/orders", params={"limit": 1})
        assert d_ready.status_code == 200
        under_load = [backup_file(d.cli("backup")) for _ in range(3)]  # online, while the bots trade
    finally:
        stop.set()
        for b in bots:
            b.join(timeout=60)
    assert len(sent) > 50
    for path in under_load:
        assert "integrity ok" in d.cli("restore", "--from", str(path), "--check")

    final = backup_file(d.cli("backup", "--to", str(tmp_path / "final.sqlite")))
    ledger = d.state / "ledger.sqlite"
    live, copy = rows_of(ledger), rows_of(final)
    copy.pop("activity_log"), live.pop("activity_log")  # the backup's own row lands after its snapshot
    assert copy == live
    assert len(copy["fills"]) > 10

    refused = subprocess.run([EXE, "restore", "--from", str(final)], env=d.env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 1
    assert "refused — a daemon (pid" in refused.stderr
    d.stop()
    restored = d.cli("restore", "--from", str(final))
    assert "restored" in restored
    assert list(d.state.glob("ledger.sqlite.before-restore-*"))
    d.start()
    d.wait_ready()  # READY=1 only after the start-up reconciliation passed on the restored ledger
    gate = d.api("GET", "/api/status").json()["gate"]
    # an online backup holds the run that was live when it was taken: the restored ledger boots HALTED, and
    # trading resumes only by an operator's reset, which reconciles first (refused unless clean)
    assert (gate["state"], gate["reason"]) == ("HALTED", "unclean shutdown of the previous run")
    r = d.api("POST", "/api/bot/reset", json={"reason": "restored from the final backup, reviewed"})
    assert r.status_code == 200, r.text
    assert d.api("GET", "/api/status").json()["gate"]["state"] == "ACTIVE"
