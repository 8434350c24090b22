"""The real daemon fed bad input from outside: every route answers a clear 4xx JSON error, an emergency stop
halts whatever its body, no input kills an actor, and nothing from outside is written raw to a log line or
the ledger."""

from __future__ import annotations

import socket
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_guard.simulator.testing import admin_request
from tests.waiting import wait_until

from .conftest import EXE, Daemon

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TICKER = "KXSIMCPI-26DEC-T30"
DEEP = b"[" * 5000 + b"]" * 5000  # far beyond the decoder's recursion limit
DEEP_OBJECT = b'{"reason": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2000 + b"}"
GOOD = {"ticker": TICKER, "outcome": "yes", "action": "buy", "count": "1", "price": "0.01", "time_in_force": "ioc"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One paper daemon (static book) for the module; each test leaves its gate ACTIVE."""
    root = tmp_path_factory.mktemp("hostile")
    d = Daemon(root / "state", {"KALSHI_GUARD_SIMULATOR__LIQUIDITY_INTERVAL_S": "0"})
    d.start()
    d.wait_ready()
    yield d
    d.close()


def restarts(d: Daemon) -> dict[str, int]:
    return {c["name"]: c["restarts"] for c in d.status()["children"]}


def gate(d: Daemon) -> str:
    return str(d.status()["gate"]["state"])


def reopen(d: Daemon) -> None:
    r = d.api("POST", "/api/bot/reset", json={"reason": "test over"})
    assert r.status_code == 200, r.text
    assert gate(d) == "ACTIVE"


def whole_stderr(d: Daemon) -> str:
    """Everything the daemon wrote to stderr so far (``Daemon.stderr`` keeps only the tail)."""
    return (d.state.parent / f"daemon-{d.port}.stderr").read_text(errors="replace")


def post_raw(d: Daemon, path: str, body: bytes) -> Any:
    return d.api("POST", path, content=body, headers={"Content-Type": "application/json"})


class TestDeeplyNestedJson:
    @pytest.mark.parametrize("path", ["/api/orders", "/api/orders/batch", "/api/bot/reset", "/api/orders/cancel-all"])
    def test_a_deep_body_is_a_400_json_error(self, daemon: Daemon, path: str) -> None:
        """5,000 levels of nesting: 400 with a JSON error naming the depth, never a 500 or a traceback."""
        r = post_raw(daemon, path, DEEP)
        assert r.status_code == 400, r.text
        assert "nested" in r.json()["error"]
        assert gate(daemon) == "ACTIVE"

    def test_an_emergency_stop_with_a_deep_body_still_halts(self, daemon: Daemon) -> None:
        """The stop is performed whatever its body; the gate's reason says the body was unreadable."""
        for body in (DEEP, DEEP_OBJECT):
            r = daemon.api("POST", "/api/bot/emergency-stop", content=body)
            assert r.status_code == 200, r.text
            snap = daemon.status()["gate"]
            assert snap["state"] == "HALTED"
            assert "nested" in snap["reason"]
            reopen(daemon)


class TestValidation:
    @pytest.mark.parametrize(("field", "value"), [
        ("ticker", TICKER + "\n"), ("count", "1\n"), ("price", "0.41\n"), ("client_order_id", "abc\n"),
        ("reference_price", "0.41\n"), ("count", "\u0661"),  # an Arabic-Indic one: not an ASCII digit
    ])
    def test_a_trailing_newline_is_refused_and_nothing_dies(self, daemon: Daemon, field: str, value: str) -> None:
        """Whole-string validation: 422 naming the field, nothing written or sent, no actor restarted."""
        before = restarts(daemon)
        r = daemon.api("POST", "/api/orders", json={**GOOD, field: value})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field
        assert daemon.api("GET", "/api/orders?limit=1000").json()["orders"] == []
        assert restarts(daemon) == before

    def test_six_newline_tickers_do_not_escalate(self, daemon: Daemon) -> None:
        """The requests that used to kill the placer six times a minute: every one 422, the daemon stays up."""
        for _ in range(6):
            r = daemon.api("POST", "/api/orders", json={**GOOD, "ticker": TICKER + "\n"})
            assert r.status_code == 422, r.text
        assert daemon.proc is not None
        assert daemon.proc.poll() is None
        assert all(n == 0 for n in restarts(daemon).values())

    @pytest.mark.parametrize("count", ["1" + "0" * 26, "1" + "0" * 30, "9" * 31])
    def test_a_huge_count_is_a_422(self, daemon: Daemon, count: str) -> None:
        """Counts of 10^26 and more: a clean 422 naming count (they used to answer 500 from a decimal error)."""
        r = daemon.api("POST", "/api/orders", json={**GOOD, "count": count})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "count"


class TestBodySize:
    def test_a_10mb_body_is_refused_413(self, daemon: Daemon) -> None:
        """A body over 64 KiB (sent chunked, no length announced) is refused 413 while it is read."""
        chunks = (b"[" + b"0," * 5_000_000 + b"0]",)

        def gen() -> Iterator[bytes]:
            yield from chunks

        for path in ("/api/orders", "/api/orders/batch", "/api/bot/reset"):
            r = daemon.api("POST", path, content=gen(), headers={"Content-Type": "application/json"})
            assert r.status_code == 413, (path, r.text)

    def test_an_announced_10mb_body_is_refused_before_it_is_sent(self, daemon: Daemon) -> None:
        """``Content-Length: 10000000`` and no body: 413 at once (the server never waits for 10 MB)."""
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as s:
            s.sendall(f"POST /api/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {daemon.token()}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n[".encode())
            answer = s.recv(4096).decode(errors="replace")
        assert answer.startswith("HTTP/1.1 413"), answer

    def test_a_10mb_emergency_stop_still_halts(self, daemon: Daemon) -> None:
        """An oversized stop body is not read, and the stop happens with a reason saying why."""
        r = daemon.api("POST", "/api/bot/emergency-stop", content=b"{" + b" " * 10_000_000 + b"}")
        assert r.status_code == 200, r.text
        snap = daemon.status()["gate"]
        assert snap["state"] == "HALTED"
        assert "larger than" in snap["reason"]
        reopen(daemon)


class TestReasons:
    def test_control_characters_never_reach_the_log_raw(self, daemon: Daemon) -> None:
        """A reason carrying NUL, ANSI escapes and CR/LF with a forged journal line: the daemon's stderr gets
        one escaped line; no forged line, no escape byte, no NUL."""
        forged = "ok\r\n<0>kalshi-guard: FORGED LINE\x1b[31m\x00"
        r = daemon.api("POST", "/api/bot/emergency-stop", json={"reason": forged})
        assert r.status_code == 200, r.text
        reopen(daemon)
        daemon.api("POST", "/api/bot/emergency-stop", json={"reason": "halted again"})  # a reset needs HALTED
        r = daemon.api("POST", "/api/bot/reset", json={"reason": "again\n<0>FORGED RESET\x1b]0;title\x07"})
        assert r.status_code == 200, r.text
        log = wait_until(lambda: "FORGED RESET" in (t := whole_stderr(daemon)) and t, what="the reset in the log")
        assert "\x1b" not in log
        assert "\x00" not in log
        assert "\x07" not in log
        assert not any(line.lstrip().startswith(("<0>", "kalshi-guard: FORGED", "FORGED")) for line in log.splitlines())
        assert "\\x0d\\x0a<0>kalshi-guard: FORGED LINE\\x1b[31m\\x00" in log

    def test_a_token_in_a_reason_is_masked_in_the_activity_log(self, daemon: Daemon) -> None:
        """The token pasted into a stop reason is masked in the answer, the log and the ledger's activity."""
        token = daemon.token()
        r = daemon.api("POST", "/api/bot/emergency-stop", json={"reason": f"oops {token} pasted"})
        assert r.status_code == 200, r.text
        assert token not in r.text
        reopen(daemon)
        with sqlite3.connect(daemon.state / "ledger.sqlite") as db:
            rows = [" ".join(map(str, row)) for row in db.execute("SELECT * FROM activity_log")]
        assert any("pasted" in row for row in rows)
        assert not any(token in row for row in rows)
        assert token not in whole_stderr(daemon)


class TestFiles:
    def test_the_ledger_files_are_private(self, daemon: Daemon) -> None:
        """ledger.sqlite and its -wal/-shm are created 0600 (whatever the umask)."""
        for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
            path = daemon.state / name
            assert path.exists(), name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, (name, oct(path.stat().st_mode))


class TestPaperSimulatorAdmin:
    def test_the_embedded_simulator_admin_routes_need_the_token_status_shows(self, daemon: Daemon) -> None:
        """The paper exchange's ``/_sim`` routes refuse a call without the admin token (a browser page cannot
        settle markets); ``kalshi-guard status`` shows the token, the API only the file that holds it."""
        ex = daemon.status()["exchange"]
        admin = ex["base_url"].removesuffix("/trade-api/v2") + "/_sim"
        r = httpx.post(f"{admin}/markets/{TICKER}/settle", content=b'{"result": "no"}',
                       headers={"Content-Type": "text/plain"}, trust_env=False, timeout=10)
        assert r.status_code == 401, r.text
        path = Path(ex["sim_admin_token_file"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = path.read_text().strip()
        assert token not in daemon.api("GET", "/api/status").text
        out = subprocess.run([EXE, "status"], env=daemon.env, capture_output=True, text=True, timeout=30, check=False)
        assert out.returncode == 0, out.stderr
        assert f"sim admin token: {token}" in out.stdout
        assert admin_request(admin, "GET", "/stats", token=token).status_code == 200
