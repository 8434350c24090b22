"""The dashboard's routes on the real control server in-process: a real gate, a real SQLite ledger, no
exchange. The event stream is read as a client reads it (HTTP, bearer header)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_guard.config.schema import Settings
from kalshi_guard.control.account import AccountView, ExchangeReads
from kalshi_guard.control.dashboard import PUBLIC_PATHS, DashboardFeed, LedgerChanges, dashboard_routes
from kalshi_guard.control.server import PUBLIC_PATHS as API_PUBLIC
from kalshi_guard.control.server import ControlServer
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.ledger import Ledger
from tests.waiting import wait_until

TOKEN = "dashboard-test-token-0123456789"


class GatePort:
    """A ControlPort over a real gate."""

    def __init__(self) -> None:
        self.gate = TradingGate()
        self.gate.mark_ready()

    def status(self) -> dict[str, Any]:
        snap = self.gate.snapshot()
        return {"mode": "paper", "pid": os.getpid(), "uptime_s": 1.0,
                "gate": {"state": snap.state.value, "reason": snap.reason}}

    def emergency_stop(self, source: str, reason: str) -> dict[str, Any]:
        return {"state": self.gate.close(reason, source).state.value}

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        return {"state": self.gate.reset(reason, source).state.value}


@contextlib.contextmanager
def serving(tmp_path: Path, *, woken: bool,
            **timing: float) -> Iterator[tuple[ControlServer, Ledger, GatePort, LedgerChanges]]:
    """The dashboard's routes on a control server over a fresh ledger; ``woken``: the ledger's commits wake
    the stream, as the daemon mounts it."""
    ledger = Ledger.open(f"sqlite:///{tmp_path}/ledger.sqlite")
    port = GatePort()
    changes = LedgerChanges()
    feed = DashboardFeed(port, AccountView(ledger, Settings, ExchangeReads(None)), ledger,
                         version=lambda: (changes.count, port.gate.snapshot()),
                         watch=changes.watch if woken else None)
    routes = dashboard_routes(feed, TOKEN, **timing)
    srv = ControlServer(port, port_number=0, token=TOKEN, extra_routes=routes, public_paths=API_PUBLIC | PUBLIC_PATHS)
    srv.start()
    try:
        yield srv, ledger, port, changes
    finally:
        srv.stop()
        changes.close()
        ledger.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[ControlServer, Ledger, GatePort]]:
    """Polling every 0.05 s, pings every 0.2 s, no periodic refresh."""
    with serving(tmp_path, woken=False, poll_s=0.05, ping_s=0.2, refresh_s=3600) as (srv, ledger, port, _changes):
        yield srv, ledger, port


@pytest.fixture
def woken(tmp_path: Path) -> Iterator[tuple[ControlServer, Ledger, LedgerChanges]]:
    """The console as the daemon mounts it (the ledger's commits wake the stream), with polling, pings and
    refreshes an hour apart: only a wake can deliver anything after the first snapshot."""
    with serving(tmp_path, woken=True, poll_s=3600, ping_s=3600, refresh_s=3600,
                 min_gap_s=0.01) as (srv, ledger, _port, changes):
        yield srv, ledger, changes


def events(srv: ControlServer) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of /api/events, as they arrive."""
    with httpx.stream("GET", srv.url + "/api/events", headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=10, trust_env=False) as r:
        assert r.status_code == 200
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event:
                yield event, line[5:].strip()
                event = None


def test_a_committed_ledger_write_pushes_a_new_snapshot(console) -> None:
    """With no periodic refresh, an activity row written to the ledger reaches the stream at once: the
    ledger's commit is the trigger, not a timer."""
    srv, ledger, _port = console
    seen = 0
    for event, data in events(srv):
        if event != "snapshot":
            continue
        seen += 1
        snap = json.loads(data)
        if seen == 1:
            assert snap["activity"] == []
            ledger.log_activity("TEST", "INFO", "written while the page watches")
        else:
            assert [a["message"] for a in snap["activity"]] == ["written while the page watches"]
            break


def test_a_committed_write_wakes_the_stream_without_polling(woken) -> None:
    """The stream sleeps until the ledger commits: each write is on the stream though nothing polls, and a
    burst of writes costs one wake-up per snapshot, not one per write."""
    srv, ledger, changes = woken
    messages: list[list[str]] = []
    stream = events(srv)
    for event, data in stream:
        assert event == "snapshot"
        messages.append([a["message"] for a in json.loads(data)["activity"]])
        if len(messages) == 1:
            ledger.log_activity("TEST", "INFO", "first")
        elif len(messages) == 2:
            for i in range(50):
                ledger.log_activity("TEST", "INFO", f"burst {i}")
        elif "burst 49" in messages[-1]:
            break
    assert messages[:2] == [[], ["first"]]
    assert len(messages) < 2 + 50, "the burst came in fewer snapshots than writes"
    assert changes.watching == 1
    stream.close()  # the client leaves
    wait_until(lambda: changes.watching == 0, what="the stream to stop watching once its client left")


def test_a_quiet_daemon_sends_pings_not_snapshots(console) -> None:
    """Nothing changes: after the first snapshot only pings arrive (the page's proof of life)."""
    srv, _ledger, _port = console
    kinds = []
    for event, _data in events(srv):
        kinds.append(event)
        if len(kinds) == 4:
            break
    assert kinds == ["snapshot", "ping", "ping", "ping"]


def test_the_gate_closing_pushes_a_snapshot(console) -> None:
    """An emergency stop (the gate in memory) is on the stream without any ledger write."""
    srv, _ledger, port = console
    states = []
    for event, data in events(srv):
        if event == "snapshot":
            states.append(json.loads(data)["status"]["gate"]["state"])
            if len(states) == 1:
                port.emergency_stop("test", "stop")
            else:
                break
    assert states == ["ACTIVE", "HALTED"]


def test_a_part_that_cannot_be_read_is_named_not_fatal(console) -> None:
    """A closed ledger: /api/dashboard still answers, the parts it could not read are null and named, and
    /api/account answers 503."""
    srv, ledger, _port = console
    ledger.close()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = httpx.get(srv.url + "/api/dashboard", headers=auth, trust_env=False)
    assert r.status_code == 200
    body = r.json()
    assert body["status"]["gate"]["state"] == "ACTIVE"
    assert body["orders"] is None
    assert any(e.startswith("orders unavailable") for e in body["errors"])
    assert httpx.get(srv.url + "/api/account", headers=auth, trust_env=False).status_code == 503


def test_only_the_page_files_are_public(console) -> None:
    """The page, its two files and the favicon need no token; any other static name does, and is 404."""
    srv, _ledger, _port = console
    for path in sorted(PUBLIC_PATHS):
        assert httpx.get(srv.url + path, trust_env=False).status_code in (200, 204), path
    assert httpx.get(srv.url + "/static/secret.txt", trust_env=False).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(srv.url + "/static/secret.txt", headers=auth, trust_env=False).status_code == 404
    assert httpx.get(srv.url + "/static/../server.py", headers=auth, trust_env=False).status_code == 404
