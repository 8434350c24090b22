"""The daemon's pid file (``<state dir>/kalshi-guard.pid``): one live daemon per state directory.

The file holds the decimal pid and a newline. It is written atomically (temporary file + hard link, so
two daemons starting at once cannot both win) and removed on a clean exit only if it still names us.
A file naming a dead process — or a process of another user, which cannot be a daemon sharing our
state directory — is stale and replaced.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from kalshi_guard.core.errors import ConfigError

PID_FILE = "kalshi-guard.pid"


def pidfile_path(state_dir: Path) -> Path:
    """``<state dir>/kalshi-guard.pid``."""
    return Path(state_dir) / PID_FILE


def read_pid(path: Path) -> int | None:
    """The pid recorded in ``path``; ``None`` if the file is missing, unreadable or not a positive integer."""
    try:
        raw = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not raw.isdigit():
        return None
    pid = int(raw)
    return pid if pid > 0 else None


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` names a live process we could signal (``os.kill(pid, 0)``).

    A process of another user (``EPERM``) counts as not ours, hence not alive for our purposes.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    except OSError:
        return False
    return True


def pid_started_at(pid: int) -> float | None:
    """When ``pid`` started (Unix seconds, ±1 s), from ``/proc``; ``None`` where that cannot be read."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text(encoding="ascii").splitlines()
            if line.startswith("btime ")
        )
        # the command name (field 2) may contain spaces: fields after the closing parenthesis
        fields = stat_line.rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def holder_pid(path: Path) -> int | None:
    """The live process named by ``path``, if it can be the one that wrote the file, else ``None``.

    A process that started after the file was last written cannot have written it (the pid was reused,
    e.g. after a reboot): that file is stale. Our own pid counts as a holder.
    """
    path = Path(path)
    pid = read_pid(path)
    if pid is None or not pid_alive(pid):
        return None
    started = pid_started_at(pid)
    if started is not None:
        try:
            written = path.stat().st_mtime
        except OSError:
            return None
        if started > written + 2.0:  # btime has one-second resolution
            return None
    return pid


def _holder(path: Path) -> int | None:
    """The live process (other than us) that holds ``path``, else ``None``."""
    pid = holder_pid(path)
    return None if pid == os.getpid() else pid


def _held(path: Path, holder: int) -> str:
    return f"{path}: another kalshi-guard (pid {holder}) is running with this state directory"


def write_pidfile(path: Path) -> None:
    """Record our pid in ``path`` atomically.

    Raises ``ConfigError`` (exit 78: systemd does not restart into the same conflict) when another
    live process holds the file, or when the file cannot be written. A stale file is replaced.
    """
    path = Path(path)
    holder = _holder(path)
    if holder is not None:
        raise ConfigError([_held(path, holder)])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if the file appeared meanwhile: never clobber a live holder
        except FileExistsError:
            holder = _holder(path)
            if holder is not None:
                raise ConfigError([_held(path, holder)]) from None
            os.replace(tmp, path)  # stale (or already ours): replace atomically
    except OSError as exc:
        raise ConfigError([f"{path}: cannot write the pid file ({exc.strerror})"]) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def remove_pidfile(path: Path) -> bool:
    """Remove ``path`` if it names this process; returns whether it did. Never raises."""
    path = Path(path)
    if read_pid(path) != os.getpid():
        return False
    try:
        path.unlink()
    except OSError:
        return False
    return True
