"""The operator's console routes on the real daemon: the token on every route but health and the sign-in
page, the page's Content-Security-Policy, no secret in any answer, the account view, the event stream,
``/metrics`` read by prometheus-client's own parser, and ``kalshi-guard status``'s account lines."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kalshi_guard.control.metrics import FAMILIES

from .conftest import EXE, Daemon

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

TICKER = "KXSIMCPI-26DEC-T30"
PROTECTED_GET = ["/api/status", "/api/account", "/api/dashboard", "/api/events", "/metrics", "/api/orders",
                 "/api/positions", "/static/other.js", "/index.html"]
PUBLIC = {"/": "text/html", "/static/dashboard.js": "text/javascript", "/static/dashboard.css": "text/css"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("console")
    d = Daemon(root / "state", {"KALSHI_GUARD_SIMULATOR__LIQUIDITY_INTERVAL_S": "0"})
    d.start()
    d.wait_ready()
    yield d
    d.close()


@pytest.fixture(scope="module")
def filled(daemon: Daemon) -> dict:
    """One IOC buy at the ask, filled."""
    base = daemon.status()["exchange"]["base_url"]
    ask = httpx.get(f"{base}/markets/{TICKER}", timeout=10, trust_env=False).json()["market"]["yes_ask_dollars"]
    r = daemon.api("POST", "/api/orders", json={"ticker": TICKER, "outcome": "yes", "action": "buy", "count": "3",
                                                "price": ask, "time_in_force": "ioc"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "FILLED"
    return r.json()


class TestSecurity:
    def test_every_route_but_health_and_the_sign_in_page_needs_the_token(self, daemon: Daemon) -> None:
        """No token or a wrong one: 401 on every data route (and unknown paths), 200 on health and the page."""
        for path in PROTECTED_GET:
            assert daemon.api("GET", path, token=None).status_code == 401, path
            assert daemon.api("GET", path, token="x" * 40).status_code == 401, path
        for path in ("/api/bot/emergency-stop", "/api/bot/reset"):
            assert daemon.api("POST", path, token=None, json={"reason": "r"}).status_code == 401
        assert daemon.status()["gate"]["state"] == "ACTIVE"
        assert daemon.api("GET", "/api/health", token=None).status_code == 200
        for path, media in PUBLIC.items():
            r = daemon.api("GET", path, token=None)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith(media)

    def test_the_page_has_a_strict_csp_and_no_inline_code(self, daemon: Daemon) -> None:
        """The page and its files carry a CSP without 'unsafe-inline' or 'unsafe-eval', framing is refused,
        and the HTML holds no inline script, style or event handler."""
        for path in PUBLIC:
            r = daemon.api("GET", path, token=None)
            csp = r.headers["content-security-policy"]
            assert "default-src 'none'" in csp
            assert "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "unsafe" not in csp
            assert r.headers["x-content-type-options"] == "nosniff"
        html = daemon.api("GET", "/", token=None).text
        assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", html))
        assert "<style" not in html
        assert not re.search(r"\sstyle=", html)
        assert not re.search(r"\son[a-z]+=", html)

    def test_no_secret_in_any_answer(self, daemon: Daemon, filled: dict) -> None:
        """Neither the control token nor the exchange's private key appears in any console answer."""
        token = daemon.token()
        key_file = Path(daemon.status()["exchange"]["private_key_file"])
        key_body = "".join(key_file.read_text().splitlines()[1:3])
        for path in ("/api/status", "/api/account", "/api/dashboard", "/metrics", "/", "/static/dashboard.js"):
            text = daemon.api("GET", path).text
            assert token not in text, path
            assert key_body not in text, path


class TestAccount:
    def test_account_view_after_a_fill(self, daemon: Daemon, filled: dict) -> None:
        """Mode, balance and portfolio value, the position with mark and unrealised P&L, today's P&L with the
        fees apart (decimal strings), and each limit with its value, limit and fraction used."""
        a = daemon.api("GET", "/api/account").json()
        assert a["mode"] == "paper"
        assert Decimal(a["balance"]) < 1000
        assert a["portfolio_value"] is not None
        [pos] = [p for p in a["positions"] if p["ticker"] == TICKER]
        assert Decimal(pos["contracts"]) == 3
        assert pos["mark"] is not None
        assert pos["unrealized_pnl"] is not None
        pnl = a["pnl_today"]
        assert Decimal(pnl["fees"]) == Decimal(filled["fees"])
        assert Decimal(pnl["total"]) == Decimal(pnl["realized"]) - Decimal(pnl["fees"]) + Decimal(pnl["unrealized"])
        rows = {r["name"]: r for r in a["limits"]}
        assert Decimal(rows["total_exposure"]["value"]) > 0
        assert isinstance(rows["total_exposure"]["limit"], str)

    def test_status_prints_balance_pnl_and_the_nearest_trigger(self, daemon: Daemon, filled: dict) -> None:
        """`kalshi-guard status` adds aligned lines for the balance, today's P&L and the nearest trigger."""
        out = subprocess.run([EXE, "status"], env=daemon.env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert re.search(r"^  balance:   \$\d[\d,]*\.\d\d \(portfolio \$", out.stdout, re.M), out.stdout
        assert re.search(r"^  P&L today: -?\$\d+\.\d\d = realised ", out.stdout, re.M), out.stdout
        assert re.search(r"^  nearest:   \S+ .* of .* \(\d+% used\)", out.stdout, re.M), out.stdout


class TestStream:
    def test_the_stream_needs_the_token_and_pushes_a_change(self, daemon: Daemon) -> None:
        """``/api/events`` sends a snapshot at once, then a new one when the gate changes (emergency stop)."""
        headers = {"Authorization": f"Bearer {daemon.token()}"}
        states = []
        with httpx.stream("GET", daemon.url + "/api/events", headers=headers, timeout=10, trust_env=False) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "snapshot":
                    states.append(json.loads(line[5:])["status"]["gate"]["state"])
                    if len(states) == 1:
                        assert daemon.api("POST", "/api/bot/emergency-stop", json={"reason": "stream test"}).is_success
                    elif states[-1] == "HALTED":
                        break
        assert states[0] == "ACTIVE"
        assert states[-1] == "HALTED"
        r = daemon.api("POST", "/api/bot/reset", json={"reason": "stream test done"})
        assert r.status_code == 200, r.text


class TestMetrics:
    def test_metrics_parse_and_every_family_is_present(self, daemon: Daemon, filled: dict) -> None:
        """prometheus-client's parser reads /metrics; every family is there, with the filled order counted:
        gate state, orders by final status, the confirmation latency, fills, P&L, exposure, API calls by
        route, reconciliation runs, alert deliveries, actor restarts."""
        assert daemon.api("GET", "/metrics", token=None).status_code == 401
        r = daemon.api("GET", "/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        missing = set(FAMILIES) - set(families)
        assert not missing, missing

        def value(name: str, sample: str, **labels: str) -> float:
            return sum(s.value for s in families[name].samples
                       if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))

        assert value("kalshi_guard_gate_state", "kalshi_guard_gate_state", state="ACTIVE") == 1
        assert value("kalshi_guard_orders_final", "kalshi_guard_orders_final_total", status="FILLED") >= 1
        assert value("kalshi_guard_confirmations", "kalshi_guard_confirmations_total", status="FILLED") >= 1
        assert value("kalshi_guard_confirmation_latency_seconds",
                     "kalshi_guard_confirmation_latency_seconds_count") >= 1
        assert value("kalshi_guard_fills", "kalshi_guard_fills_total") >= 1
        assert value("kalshi_guard_reconciliations", "kalshi_guard_reconciliations_total", outcome="clean") >= 1
        # the stream test's emergency stop may have flattened the position: exposure is present, maybe 0
        assert any(s.labels.get("scope") == "total" for s in families["kalshi_guard_exposure_dollars"].samples)
        assert value("kalshi_guard_balance_dollars", "kalshi_guard_balance_dollars", kind="balance") > 0
        routes = {s.labels["route"] for s in families["kalshi_guard_api_calls"].samples}
        assert "/portfolio/balance" in routes
        assert any(r.startswith("/portfolio/events/orders") or r.startswith("/portfolio/orders") for r in routes)
        actors = {s.labels["actor"] for s in families["kalshi_guard_actor_restarts"].samples}
        assert {"guardian", "order_placer", "reconciler"} <= actors
