"""Against the real daemon in paper mode: limits given as a share show their dollar figure in `status`, and
the trade journal is served by `kalshi-guard trades`, `kalshi-guard report` and `GET /api/trades`."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TICKER = "KXSIMCPI-26DEC-T30"


def test_status_journal_and_report(daemon_factory):
    d = daemon_factory(KALSHI_GUARD_LIMITS__MAX_DAILY_LOSS="5%", KALSHI_GUARD_LIMITS__MAX_OPEN_POSITIONS="2")
    d.start()
    d.wait_ready()
    status = d.api("GET", "/api/status").json()
    limits = status["limits"]
    anchor = Decimal(limits["day_start_value"])  # recorded by the start-up reconciliation
    assert limits["max_daily_loss"]["setting"] == "5%"
    assert Decimal(limits["max_daily_loss"]["dollars"]) == (anchor * Decimal("0.05")).quantize(Decimal("0.000001"))
    assert limits["max_open_positions"] == 2
    shown = d.cli("status")
    assert "daily loss: limit 5% of the day-start portfolio value (= " in shown
    assert "at most 2 markets" in shown

    market = httpx.get(f"{status['exchange']['base_url']}/markets/{TICKER}", timeout=10, trust_env=False).json()
    body = {"ticker": TICKER, "outcome": "yes", "action": "buy", "count": "2",
            "price": market["market"]["yes_ask_dollars"], "time_in_force": "ioc"}
    assert d.api("POST", "/api/orders", json=body).json()["status"] == "FILLED"
    served = d.api("GET", "/api/trades").json()
    assert served["columns"][:3] == ["at", "kind", "ticker"]
    (row,) = served["trades"]
    assert (row["ticker"], row["outcome"], row["action"], row["count"]) == (TICKER, "yes", "buy", "2.00")
    csv_text = d.api("GET", "/api/trades", params={"format": "csv"}).text
    assert next(iter(csv.DictReader(io.StringIO(csv_text))))["trade_id"] == row["trade_id"]
    assert d.api("GET", "/api/trades", params={"since": "yesterday"}).status_code == 400

    exported = d.cli("trades", "--format", "json")
    assert [r["trade_id"] for r in json.loads(exported)] == [row["trade_id"]]
    report = json.loads(d.cli("report", "--json"))
    assert report["fills"] == 1
    assert Decimal(report["fees"]) == Decimal(row["fee"])
