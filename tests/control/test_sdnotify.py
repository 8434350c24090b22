"""sd_notify against a real AF_UNIX datagram socket (abstract and filesystem), as systemd would listen."""

from __future__ import annotations

import itertools
import os
import secrets
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_guard.control.sdnotify import Notifier


class Listener:
    """A fake service manager: a bound SOCK_DGRAM socket with SO_PASSCRED, read with recvmsg."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)
        self.sock.settimeout(10)

    def recv(self) -> tuple[dict[str, str], int]:
        """One datagram as a dict of assignments, and the sender's pid from SCM_CREDENTIALS."""
        data, ancdata, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = -1
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = int.from_bytes(payload[0:4], sys.byteorder)
        text = data.decode("utf-8")
        return dict(line.split("=", 1) for line in text.split("\n") if line), pid

    def pending(self) -> bool:
        """Whether a datagram is waiting (non-blocking peek)."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def abstract() -> Iterator[tuple[Listener, str]]:
    name = f"kg-test-{secrets.token_hex(6)}"
    listener = Listener(b"\0" + name.encode())
    yield listener, f"@{name}"
    listener.close()


@pytest.fixture
def filesystem(tmp_path: Path) -> Iterator[tuple[Listener, str]]:
    path = str(tmp_path / "notify.sock")
    listener = Listener(path)
    yield listener, path
    listener.close()


class FakeClock:
    """A controllable monotonic clock (the seam we do not own)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestTransport:
    def test_noop_without_notify_socket(self) -> None:
        """Without $NOTIFY_SOCKET every call returns False and nothing is counted as an error."""
        n = Notifier(env={})
        assert not n.enabled
        assert n.ready("x") is False
        assert n.watchdog() is False
        assert n.maybe_watchdog(True, 0.0) is False
        assert n.errors == 0

    def test_abstract_socket_ready_with_status(self, abstract: tuple[Listener, str]) -> None:
        """READY=1 and STATUS= arrive in one datagram over an abstract (@) socket, from our pid."""
        listener, addr = abstract
        n = Notifier(env={"NOTIFY_SOCKET": addr})
        assert n.ready("started: 5 children")
        msg, pid = listener.recv()
        assert msg == {"READY": "1", "STATUS": "started: 5 children"}
        assert pid == os.getpid()

    def test_filesystem_socket(self, filesystem: tuple[Listener, str]) -> None:
        """A filesystem-path $NOTIFY_SOCKET works too."""
        listener, addr = filesystem
        n = Notifier(env={"NOTIFY_SOCKET": addr})
        assert n.status("reconciling")
        assert listener.recv()[0] == {"STATUS": "reconciling"}

    def test_status_is_one_utf8_line(self, abstract: tuple[Listener, str]) -> None:
        """A multi-line, non-Latin-1 status arrives as one UTF-8 STATUS= line (no injected assignments)."""
        listener, addr = abstract
        n = Notifier(env={"NOTIFY_SOCKET": addr})
        assert n.status("loss 12 €\nREADY=1")
        msg, _ = listener.recv()
        assert msg == {"STATUS": "loss 12 € READY=1"}

    def test_stopping(self, abstract: tuple[Listener, str]) -> None:
        """STOPPING=1 is sent, with an optional status."""
        listener, addr = abstract
        n = Notifier(env={"NOTIFY_SOCKET": addr})
        assert n.stopping("stopping children")
        assert listener.recv()[0] == {"STOPPING": "1", "STATUS": "stopping children"}

    def test_reloading_carries_monotonic_usec(self, abstract: tuple[Listener, str]) -> None:
        """RELOADING=1 carries MONOTONIC_USEC from CLOCK_MONOTONIC (needed for reload notifications)."""
        listener, addr = abstract
        n = Notifier(env={"NOTIFY_SOCKET": addr})
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert n.reloading()
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        msg, _ = listener.recv()
        assert msg["RELOADING"] == "1"
        assert before <= int(msg["MONOTONIC_USEC"]) <= after

    def test_send_from_another_thread_is_attributed_to_the_process(self, abstract: tuple[Listener, str]) -> None:
        """A ping from a non-main thread carries the process pid, so NotifyAccess=main accepts it."""
        listener, addr = abstract
        n = Notifier(env={"NOTIFY_SOCKET": addr})
        t = threading.Thread(target=n.watchdog)
        t.start()
        t.join(10)
        msg, pid = listener.recv()
        assert msg == {"WATCHDOG": "1"}
        assert pid == os.getpid()

    def test_broken_socket_is_swallowed_and_counted(self, tmp_path: Path) -> None:
        """Sending to a socket that does not exist never raises; each failure is counted."""
        n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock"), "WATCHDOG_USEC": "1000000"})
        assert n.ready() is False
        assert n.watchdog() is False
        assert n.maybe_watchdog(True, 0.0) is False
        assert n.errors == 3
        assert n.sent == 0

    def test_listener_going_away_mid_life(self, abstract: tuple[Listener, str]) -> None:
        """When the manager's socket disappears, later sends fail quietly and are counted."""
        listener, addr = abstract
        n = Notifier(env={"NOTIFY_SOCKET": addr})
        assert n.ready()
        listener.close()
        assert n.status("still here") is False
        assert n.errors == 1

    def test_unsupported_address_disables(self) -> None:
        """A vsock or relative $NOTIFY_SOCKET disables notification instead of failing."""
        n = Notifier(env={"NOTIFY_SOCKET": "vsock:2:1234"})
        assert not n.enabled
        assert n.ready() is False


class TestWatchdogInterval:
    def test_half_of_watchdog_usec(self) -> None:
        """The ping interval is half of $WATCHDOG_USEC, in seconds."""
        n = Notifier(env={"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000"})
        assert n.watchdog_interval() == 15.0

    def test_not_armed_without_watchdog_usec(self) -> None:
        """Without $WATCHDOG_USEC there is no interval."""
        assert Notifier(env={"NOTIFY_SOCKET": "@x"}).watchdog_interval() is None

    def test_watchdog_pid_of_another_process_is_ignored(self) -> None:
        """$WATCHDOG_PID naming another process (inherited) disarms the watchdog for us."""
        env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)}
        assert Notifier(env=env).watchdog_interval() is None

    def test_watchdog_pid_of_this_process_is_honoured(self) -> None:
        """$WATCHDOG_PID equal to our pid arms the watchdog."""
        env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
        assert Notifier(env=env).watchdog_interval() == 1.0

    @pytest.mark.parametrize("value", ["abc", "0", "-5", ""])
    def test_bad_watchdog_usec(self, value: str) -> None:
        """A malformed or non-positive $WATCHDOG_USEC disarms the watchdog."""
        assert Notifier(env={"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": value}).watchdog_interval() is None


class TestWatchdogCadence:
    def test_pings_at_most_once_per_interval(self, abstract: tuple[Listener, str]) -> None:
        """Ticks every 0.25 s over 10 s with WATCHDOG_USEC=2 s give one ping per second, never closer."""
        listener, addr = abstract
        clock = FakeClock()
        n = Notifier(env={"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "2000000"}, clock=clock)
        sent_at = []
        start = clock.now
        for i in range(41):
            clock.now = start + i * 0.25
            if n.maybe_watchdog(True, clock.now):
                sent_at.append(clock.now)
        assert len(sent_at) == 11
        gaps = [b - a for a, b in itertools.pairwise(sent_at)]
        assert all(g == 1.0 for g in gaps)
        for _ in sent_at:
            assert listener.recv()[0] == {"WATCHDOG": "1"}
        assert not listener.pending()

    def test_no_ping_while_unhealthy(self, abstract: tuple[Listener, str]) -> None:
        """While any child is unhealthy nothing is sent, however much time passes; health resumes pings."""
        listener, addr = abstract
        clock = FakeClock()
        n = Notifier(env={"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "2000000"}, clock=clock)
        assert n.maybe_watchdog(True, clock.now)
        listener.recv()
        for i in range(1, 20):
            assert n.maybe_watchdog(False, clock.now + i) is False
        assert not listener.pending()
        assert n.maybe_watchdog(True, clock.now + 20)
        assert listener.recv()[0] == {"WATCHDOG": "1"}

    def test_uses_injected_clock_when_now_omitted(self, abstract: tuple[Listener, str]) -> None:
        """Without ``now`` the injected clock decides the cadence."""
        listener, addr = abstract
        clock = FakeClock()
        n = Notifier(env={"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "4000000"}, clock=clock)
        assert n.maybe_watchdog(True)
        clock.now += 1.9
        assert not n.maybe_watchdog(True)
        clock.now += 0.1
        assert n.maybe_watchdog(True)
        assert listener.recv()[0] == {"WATCHDOG": "1"}
        assert listener.recv()[0] == {"WATCHDOG": "1"}

    def test_failed_ping_is_retried_next_tick(self, tmp_path: Path) -> None:
        """A ping that could not be sent does not start a new interval: the next tick tries again."""
        path = str(tmp_path / "late.sock")
        clock = FakeClock()
        n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}, clock=clock)
        assert not n.maybe_watchdog(True, clock.now)
        listener = Listener(path)
        try:
            assert n.maybe_watchdog(True, clock.now + 0.1)
            assert listener.recv()[0] == {"WATCHDOG": "1"}
        finally:
            listener.close()

    def test_not_armed_means_no_ping(self, abstract: tuple[Listener, str]) -> None:
        """Without $WATCHDOG_USEC maybe_watchdog never sends."""
        listener, addr = abstract
        n = Notifier(env={"NOTIFY_SOCKET": addr})
        assert not n.maybe_watchdog(True, 0.0)
        assert not listener.pending()


class TestInterop:
    def test_systemd_notify_cli_speaks_the_same_protocol(self, abstract: tuple[Listener, str]) -> None:
        """Our listener parses what systemd's own systemd-notify sends (the fixture is faithful)."""
        if not Path("/usr/bin/systemd-notify").exists() and not Path("/bin/systemd-notify").exists():
            pytest.skip("systemd-notify is not installed")
        listener, addr = abstract
        env = {**os.environ, "NOTIFY_SOCKET": addr}
        proc = subprocess.run(
            ["systemd-notify", "--no-block", "--ready", "--status=from cli"],
            env=env, capture_output=True, timeout=20, check=False,
        )
        assert proc.returncode == 0, proc.stderr
        msg, _ = listener.recv()
        assert msg["READY"] == "1"
        assert msg["STATUS"] == "from cli"


CHILD = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from kalshi_guard.control.sdnotify import Notifier
n = Notifier()
n.ready("child up")
tick = threading.Event()
pings = 0
for _ in range(2000):  # the daemon's main-loop tick, bounded
    if n.watchdog_interval() is None or pings == 3:
        break
    if n.maybe_watchdog(True):
        pings += 1
    tick.wait(0.005)
n.stopping()
print(pings, n.errors)
"""


class TestChildProcess:
    def _run(self, listener: Listener, addr: str, watchdog_pid: str) -> tuple[list[tuple[dict[str, str], int]], str]:
        repo = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "100000"}
        # `exec` keeps the shell's pid, so $$ is the pid of the Python that reads WATCHDOG_PID
        script = f'WATCHDOG_PID={watchdog_pid} exec "$0" -c "$1" "$2"'
        proc = subprocess.run(
            ["/bin/sh", "-c", script, sys.executable, CHILD, repo],
            env=env, capture_output=True, text=True, timeout=30, check=False,
        )
        assert proc.returncode == 0, proc.stderr
        messages = []
        while listener.pending():
            messages.append(listener.recv())
        return messages, proc.stdout

    def test_daemon_lifecycle_from_a_real_process(self, abstract: tuple[Listener, str]) -> None:
        """A process addressed by $WATCHDOG_PID sends READY, then WATCHDOG pings, then STOPPING, all under its pid."""
        listener, addr = abstract
        messages, out = self._run(listener, addr, "$$")
        kinds = [next(iter(m)) for m, _ in messages]
        assert kinds == ["READY", "WATCHDOG", "WATCHDOG", "WATCHDOG", "STOPPING"]
        assert len({pid for _, pid in messages}) == 1
        assert messages[0][1] != os.getpid()
        assert out.split() == ["3", "0"]

    def test_watchdog_pid_for_someone_else(self, abstract: tuple[Listener, str]) -> None:
        """A process not named by $WATCHDOG_PID never pings, but still reports READY and STOPPING."""
        listener, addr = abstract
        messages, out = self._run(listener, addr, "1")
        assert [next(iter(m)) for m, _ in messages] == ["READY", "STOPPING"]
        assert out.split() == ["0", "0"]
