"""``kalshi-guard status|stop|reset`` against the real control server in-process, and the SIGUSR1 fallback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kalshi_guard.control.auth import resolve_token
from kalshi_guard.control.cli import main
from kalshi_guard.control.pidfile import pidfile_path
from kalshi_guard.control.server import ControlServer
from kalshi_guard.core.gate import GateState, TradingGate


class GatePort:
    """A ControlPort over a real gate (the server's seam)."""

    def __init__(self) -> None:
        self.gate = TradingGate()
        self.gate.mark_ready()

    def status(self) -> dict[str, Any]:
        snap = self.gate.snapshot()
        return {
            "mode": "paper",
            "ready": True,
            "pid": os.getpid(),
            "uptime_s": 1.5,
            "gate": {"state": snap.state.value, "reason": snap.reason, "source": snap.source,
                     "changed_at": snap.changed_at},
            "children": [{"name": "guardian", "status": "running", "alive": True, "restarts": 2,
                          "last_exit": "crash"}],
            "restart_incidents": 2,
            "healthy": True,
            "exchange": {"environment": "simulator"},
        }

    def emergency_stop(self, source: str, reason: str) -> dict[str, Any]:
        snap = self.gate.close(reason, source)
        return {"state": snap.state.value, "reason": snap.reason}

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        snap = self.gate.reset(reason, source)
        return {"state": snap.state.value}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads the environment: keep the developer's or systemd's variables out of these tests."""
    for name in list(os.environ):
        if (name.startswith("KALSHI_GUARD_") and not name.startswith("KALSHI_GUARD_TEST_")) or name in (
            "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "LOGS_DIRECTORY"
        ):
            monkeypatch.delenv(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, port: int) -> Path:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True, mode=0o700)
    cfg = tmp_path / "kalshi-guard.toml"
    cfg.write_text(textwrap.dedent(f"""
        mode = "paper"
        state_dir = "{state}"

        [control]
        host = "127.0.0.1"
        port = {port}
    """))
    return cfg


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[GatePort, ControlServer, Path]]:
    """A control server whose token was generated into the state dir, and a config file pointing at it."""
    port = GatePort()
    state = tmp_path / "state"
    from kalshi_guard.config.schema import Settings

    token = resolve_token(Settings(), state, env={})
    srv = ControlServer(port, port_number=0, token=token)
    srv.start()
    cfg = write_config(tmp_path, srv.bound_port or 0)
    yield port, srv, cfg
    srv.stop()


class TestStatus:
    def test_readable_summary(self, daemon, capsys: pytest.CaptureFixture[str]) -> None:
        """`status` prints mode, gate and children and exits 0."""
        _port, _srv, cfg = daemon
        assert main(["status", "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "mode:      paper" in out
        assert "gate:      ACTIVE" in out
        assert "guardian" in out
        assert "restarts 2" in out

    def test_json(self, daemon, capsys: pytest.CaptureFixture[str]) -> None:
        """`status --json` prints the API's JSON."""
        _port, _srv, cfg = daemon
        assert main(["status", "--json", "--config", str(cfg)]) == 0
        body = json.loads(capsys.readouterr().out)
        assert body["gate"]["state"] == "ACTIVE"

    def test_unreachable(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """With a token but nothing listening, `status` exits 1 and says the daemon does not answer."""
        cfg = write_config(tmp_path, free_port())
        from kalshi_guard.config.schema import Settings

        resolve_token(Settings(), tmp_path / "state", env={})
        assert main(["status", "--config", str(cfg)]) == 1
        assert "does not answer" in capsys.readouterr().err

    def test_no_token_yet(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Before the daemon ever started there is no token: exit 1 with an explanation."""
        cfg = write_config(tmp_path, free_port())
        assert main(["status", "--config", str(cfg)]) == 1
        assert "no control token" in capsys.readouterr().err

    def test_wrong_token_is_refused(self, daemon, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """A token that does not match the daemon's gives exit 1 (401), printed without the token."""
        _port, _srv, cfg = daemon
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / "control-token").write_text("a-different-token-0123456789")
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
        assert main(["status", "--config", str(cfg)]) == 1
        captured = capsys.readouterr()
        assert "401" in captured.err
        assert "a-different-token" not in captured.out + captured.err

    def test_bad_config_exits_78(self, tmp_path: Path) -> None:
        """An invalid config file is exit 78."""
        cfg = tmp_path / "bad.toml"
        cfg.write_text("[control]\nport = 'x'\n")
        assert main(["status", "--config", str(cfg)]) == 78

    def test_unsafe_token_file_exits_78(self, tmp_path: Path) -> None:
        """A world-readable token file is a configuration error (78)."""
        cfg = write_config(tmp_path, free_port())
        token_file = tmp_path / "state" / "control-token"
        token_file.write_text("x" * 30)
        token_file.chmod(0o644)
        assert main(["status", "--config", str(cfg)]) == 78


class TestStop:
    def test_stop_through_the_api(self, daemon, capsys: pytest.CaptureFixture[str]) -> None:
        """`stop` closes the gate through the API with the given reason."""
        port, _srv, cfg = daemon
        assert main(["stop", "--reason", "bad fills", "--config", str(cfg)]) == 0
        assert port.gate.state is GateState.HALTED
        assert port.gate.snapshot().reason == "bad fills"
        assert port.gate.snapshot().source == "http"
        assert "HALTED" in capsys.readouterr().out

    def test_fallback_to_sigusr1(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """With no API answering, `stop` sends SIGUSR1 to the pid-file process, which sees it."""
        cfg = write_config(tmp_path, free_port())
        marker = tmp_path / "got-usr1"
        child_code = textwrap.dedent(f"""
            import pathlib, signal, sys, threading
            got = threading.Event()
            def on_usr1(signum, frame):
                got.set()
            signal.signal(signal.SIGUSR1, on_usr1)
            sys.stdout.write("ready\\n"); sys.stdout.flush()
            if got.wait(30):
                pathlib.Path({str(marker)!r}).write_text("usr1")
        """)
        child = subprocess.Popen([sys.executable, "-c", child_code], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"  # the handler is installed
            pidfile_path(tmp_path / "state").write_text(f"{child.pid}\n")
            assert main(["stop", "--config", str(cfg)]) == 0
            assert child.wait(30) == 0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
        assert marker.read_text() == "usr1"
        captured = capsys.readouterr()
        assert "falling back to SIGUSR1" in captured.err
        assert f"pid {child.pid}" in captured.out

    def test_fallback_without_pid_file_fails(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """No API and no pid file: exit 1 and a loud 'NOT delivered'."""
        cfg = write_config(tmp_path, free_port())
        assert main(["stop", "--config", str(cfg)]) == 1
        assert "NOT delivered" in capsys.readouterr().err

    def test_fallback_refuses_a_reused_pid(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A pid file older than the process it names (pid reuse) is not signalled."""
        cfg = write_config(tmp_path, free_port())
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        try:
            path = pidfile_path(tmp_path / "state")
            path.write_text(f"{child.pid}\n")
            os.utime(path, (1_000_000_000, 1_000_000_000))  # written long before the process started
            assert main(["stop", "--config", str(cfg)]) == 1
            assert child.poll() is None  # still alive: not killed by an unhandled SIGUSR1
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(10)
        assert "stale" in capsys.readouterr().err


class TestReset:
    def test_reset_with_reason(self, daemon, capsys: pytest.CaptureFixture[str]) -> None:
        """`reset --reason` lifts a HALTED gate and records the reason."""
        port, _srv, cfg = daemon
        port.gate.close("test", "test")
        assert main(["reset", "--reason", "reviewed", "--config", str(cfg)]) == 0
        assert port.gate.state is GateState.ACTIVE
        assert port.gate.snapshot().reason == "reviewed"
        assert "ACTIVE" in capsys.readouterr().out

    def test_reset_needs_reason_argument(self, daemon) -> None:
        """`reset` without --reason is a usage error and changes nothing."""
        port, _srv, cfg = daemon
        port.gate.close("test", "test")
        with pytest.raises(SystemExit) as info:
            main(["reset", "--config", str(cfg)])
        assert info.value.code == 2
        assert port.gate.state is GateState.HALTED

    def test_blank_reason_is_refused(self, daemon, capsys: pytest.CaptureFixture[str]) -> None:
        """A blank --reason exits 1 and the gate stays HALTED."""
        port, _srv, cfg = daemon
        port.gate.close("test", "test")
        assert main(["reset", "--reason", "  ", "--config", str(cfg)]) == 1
        assert port.gate.state is GateState.HALTED

    def test_reset_unreachable(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """With nothing listening `reset` exits 1."""
        cfg = write_config(tmp_path, free_port())
        from kalshi_guard.config.schema import Settings

        resolve_token(Settings(), tmp_path / "state", env={})
        assert main(["reset", "--reason", "x", "--config", str(cfg)]) == 1
