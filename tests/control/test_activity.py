"""``GET /api/activity`` and ``kalshi-guard activity`` over a real ledger and the real control server."""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_guard.config.schema import Settings
from kalshi_guard.control.activity import activity_routes, parse_since
from kalshi_guard.control.auth import resolve_token
from kalshi_guard.control.cli import main
from kalshi_guard.control.logs import register_secret
from kalshi_guard.control.server import ControlServer
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.ledger import Ledger

PLANTED = "https://discord.example/api/webhooks/42/PLANTEDactivitysecret0123456789"


class Port:
    def __init__(self) -> None:
        self.gate = TradingGate()

    def status(self) -> dict[str, Any]:
        return {"gate": {"state": self.gate.snapshot().state}}

    def emergency_stop(self, source: str, reason: str) -> dict[str, Any]:
        return {}

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        return {}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if (name.startswith("KALSHI_GUARD_") and not name.startswith("KALSHI_GUARD_TEST_")) or name in (
            "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "LOGS_DIRECTORY"
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Ledger, ControlServer, str, Path]]:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.log_activity("KILL_SWITCH", "CRITICAL", "emergency stop: test", {"source": "cli"})
    ledger.log_activity("RESET", "WARNING", "gate reset by cli: clear", {"source": "cli"})
    register_secret(PLANTED)
    ledger.log_activity("ALERT_GIVEN_UP", "ERROR", f"failed at {PLANTED}", {"url": PLANTED})
    state = tmp_path / "state"
    token = resolve_token(Settings(), state, env={})
    srv = ControlServer(Port(), port_number=0, token=token, extra_routes=activity_routes(ledger))
    srv.start()
    cfg = tmp_path / "kalshi-guard.toml"
    cfg.write_text(textwrap.dedent(f"""
        mode = "paper"
        state_dir = "{state}"

        [control]
        host = "127.0.0.1"
        port = {srv.bound_port}
    """))
    yield ledger, srv, token, cfg
    srv.stop()
    ledger.close()


class TestRoute:
    def test_needs_the_token_and_filters(self, served) -> None:
        """Without the bearer token 401; with it, rows newest first, filtered by category and since."""
        _ledger, srv, token, _cfg = served
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert c.get("/api/activity").status_code == 401
            auth = {"Authorization": f"Bearer {token}"}
            rows = c.get("/api/activity", headers=auth).json()["activity"]
            assert [r["category"] for r in rows] == ["ALERT_GIVEN_UP", "RESET", "KILL_SWITCH"]
            only = c.get("/api/activity", headers=auth, params={"category": "RESET"}).json()["activity"]
            assert [r["message"] for r in only] == ["gate reset by cli: clear"]
            later = c.get("/api/activity", headers=auth, params={"since": str(time.time() + 60)}).json()
            assert later == {"activity": []}
            assert c.get("/api/activity", headers=auth, params={"limit": "0"}).status_code == 400
            for bad in ("nan", "inf", "-1", "1e300"):  # found by the API fuzzer: a 503 before
                assert c.get("/api/activity", headers=auth, params={"since": bad}).status_code == 400

    def test_secrets_never_in_the_answer(self, served) -> None:
        """A webhook URL that reached an activity row is masked in the API's answer."""
        _ledger, srv, token, _cfg = served
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            text = c.get("/api/activity", headers={"Authorization": f"Bearer {token}"}).text
        assert "PLANTED" not in text


class TestCommand:
    def test_lines_and_json(self, served, capsys: pytest.CaptureFixture[str]) -> None:
        """`activity --category KILL_SWITCH` prints that row; `--json` the rows as JSON; `--since 1h` all."""
        _ledger, _srv, _token, cfg = served
        assert main(["activity", "--config", str(cfg), "--category", "kill_switch"]) == 0
        out = capsys.readouterr().out
        assert "KILL_SWITCH" in out
        assert "RESET" not in out
        assert main(["activity", "--config", str(cfg), "--json", "--since", "1h"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert len(rows) == 3
        assert "PLANTED" not in json.dumps(rows)

    def test_bad_since(self, served, capsys: pytest.CaptureFixture[str]) -> None:
        """An unreadable --since is refused with a hint (exit 1)."""
        assert main(["activity", "--config", str(served[3]), "--since", "yesterday"]) == 1
        assert "duration" in capsys.readouterr().err


def test_parse_since() -> None:
    """Durations count back from now; ISO times without a zone are UTC."""
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("1970-01-01T00:01:00") == 60.0
