"""The pid file: atomic write, refusal while a live process holds it, stale replacement, safe removal."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_guard.control.pidfile import (
    holder_pid,
    pid_alive,
    pid_started_at,
    pidfile_path,
    read_pid,
    remove_pidfile,
    write_pidfile,
)
from kalshi_guard.core.errors import ConfigError


@pytest.fixture
def live_child() -> Iterator[subprocess.Popen[bytes]]:
    """A real other process that stays alive until the test ends."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    return proc.pid


class TestWrite:
    def test_writes_our_pid(self, tmp_path: Path) -> None:
        """The file holds our pid and a newline, and nothing is left behind."""
        path = pidfile_path(tmp_path)
        write_pidfile(path)
        assert path.read_text() == f"{os.getpid()}\n"
        assert read_pid(path) == os.getpid()
        assert [p.name for p in tmp_path.iterdir()] == ["kalshi-guard.pid"]

    def test_refuses_when_a_live_process_holds_it(self, tmp_path: Path, live_child) -> None:
        """Another live process's pid file is a ConfigError naming that pid, and the file is untouched."""
        path = pidfile_path(tmp_path)
        path.write_text(f"{live_child.pid}\n")
        with pytest.raises(ConfigError, match=str(live_child.pid)):
            write_pidfile(path)
        assert read_pid(path) == live_child.pid

    def test_replaces_a_stale_file(self, tmp_path: Path) -> None:
        """A pid file naming a dead process is replaced."""
        path = pidfile_path(tmp_path)
        path.write_text(f"{dead_pid()}\n")
        write_pidfile(path)
        assert read_pid(path) == os.getpid()

    def test_rewriting_our_own_file_is_fine(self, tmp_path: Path) -> None:
        """Writing twice from the same process succeeds (a restart inside one process)."""
        path = pidfile_path(tmp_path)
        write_pidfile(path)
        write_pidfile(path)
        assert read_pid(path) == os.getpid()

    @pytest.mark.parametrize("content", ["", "garbage", "-4", "0"])
    def test_replaces_garbage(self, tmp_path: Path, content: str) -> None:
        """An unparseable pid file is stale."""
        path = pidfile_path(tmp_path)
        path.write_text(content)
        write_pidfile(path)
        assert read_pid(path) == os.getpid()

    def test_creates_the_directory(self, tmp_path: Path) -> None:
        """A missing state directory is created."""
        path = pidfile_path(tmp_path / "x" / "y")
        write_pidfile(path)
        assert read_pid(path) == os.getpid()

    def test_unwritable_directory_is_a_config_error(self, tmp_path: Path) -> None:
        """A directory we cannot create is a ConfigError, not a traceback."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(ConfigError):
            write_pidfile(blocker / "kalshi-guard.pid")


class TestReadAndRemove:
    def test_read_missing(self, tmp_path: Path) -> None:
        """A missing file reads as None."""
        assert read_pid(tmp_path / "none.pid") is None

    def test_remove_only_our_own(self, tmp_path: Path, live_child) -> None:
        """remove_pidfile leaves a file naming another process alone."""
        path = pidfile_path(tmp_path)
        path.write_text(f"{live_child.pid}\n")
        assert remove_pidfile(path) is False
        assert path.exists()

    def test_remove_ours(self, tmp_path: Path) -> None:
        """remove_pidfile deletes our own file."""
        path = pidfile_path(tmp_path)
        write_pidfile(path)
        assert remove_pidfile(path) is True
        assert not path.exists()
        assert remove_pidfile(path) is False

    def test_pid_alive(self, live_child) -> None:
        """pid_alive tells a live process from a reaped one."""
        assert pid_alive(live_child.pid)
        assert not pid_alive(dead_pid())


class TestPidReuse:
    def test_file_older_than_its_process_is_stale(self, tmp_path: Path, live_child) -> None:
        """A pid file written before the named process started (pid reused after a reboot) is replaced."""
        path = pidfile_path(tmp_path)
        path.write_text(f"{live_child.pid}\n")
        os.utime(path, (1_000_000_000, 1_000_000_000))
        assert holder_pid(path) is None
        write_pidfile(path)
        assert read_pid(path) == os.getpid()

    def test_fresh_file_names_its_holder(self, tmp_path: Path, live_child) -> None:
        """A pid file written after its process started names that process."""
        path = pidfile_path(tmp_path)
        path.write_text(f"{live_child.pid}\n")
        assert holder_pid(path) == live_child.pid

    def test_start_time_of_this_process(self) -> None:
        """Our own start time is readable and not in the future."""
        import time

        started = pid_started_at(os.getpid())
        assert started is not None
        assert started <= time.time() + 2
