"""Run the real daemon as a subprocess: its own state directory, free ports, and an sd_notify socket
that the test reads, so start-up and state changes are awaited as events, not guessed with sleeps."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

EXE = str(Path(sys.executable).with_name("kalshi-guard"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Re-check ``predicate`` until it returns something truthy or ``timeout`` passes (cross-process
    state has no event to wait on; each re-check waits on an Event, never a bare sleep)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        pause.wait(0.05)


class Daemon:
    """One ``kalshi-guard run`` subprocess in paper mode."""

    def __init__(self, state: Path, extra_env: dict[str, str] | None = None) -> None:
        self.state = state
        self.port = free_port()
        self.notify_path = str(state.parent / f"notify-{self.port}.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.notify_path)
        self.messages: queue.Queue[str] = queue.Queue()
        self.env = dict(
            os.environ,
            NOTIFY_SOCKET=self.notify_path,
            KALSHI_GUARD_STATE_DIR=str(state),
            KALSHI_GUARD_CONTROL__PORT=str(self.port),
            KALSHI_GUARD_SIMULATOR__PORT="0",
            **(extra_env or {}),
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            self.messages.put(data.decode())

    def start(self, config: Path | None = None, extra_args: list[str] | None = None) -> None:
        args = [EXE, "run"] if config is None else [EXE, "--config", str(config), "run"]
        args += extra_args or []
        self.log = open(self.state.parent / f"daemon-{self.port}.stderr", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(args, env=self.env, stdout=self.log, stderr=self.log)

    def wait_notify(self, needle: str, timeout: float = 30.0) -> str:
        """Block until a datagram containing ``needle`` arrives (READY=1, STATUS=…, STOPPING=1)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no sd_notify message containing {needle!r} within {timeout}s; stderr:\n{self.stderr()}")
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if needle in msg:
                return msg

    def wait_ready(self) -> None:
        self.wait_notify("READY=1")

    def stderr(self) -> str:
        return (self.state.parent / f"daemon-{self.port}.stderr").read_text(errors="replace")[-4000:]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self) -> str:
        return (self.state / "control-token").read_text().strip()

    def api(self, method: str, path: str, *, token: str | None = "default", **kw: Any) -> httpx.Response:  # noqa: S107
        headers = {}
        if token == "default":
            token = self.token()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.request(method, self.url + path, headers=headers, timeout=30, trust_env=False, **kw)

    def status(self) -> dict[str, Any]:
        return self.api("GET", "/api/status").json()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()

    def close(self) -> None:
        self.stop()
        self._sock.close()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(state: Path | None = None, **env: str) -> Daemon:
        d = Daemon(state or tmp_path / "state", env)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()
