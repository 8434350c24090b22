"""Where kalshi-guard keeps its state and logs (resolution order below; directories created 0700).

State directory, first match wins:

1. ``state_dir`` in the settings (file key ``state_dir``, env ``KALSHI_GUARD_STATE_DIR``);
2. ``$STATE_DIRECTORY`` (set by systemd's ``StateDirectory=``; the first entry if colon-separated);
3. ``$XDG_STATE_HOME/kalshi-guard``;
4. ``~/.local/state/kalshi-guard``.

It holds the SQLite ledger (``ledger.sqlite``), the paper account, the generated control token and,
unless systemd provides ``$LOGS_DIRECTORY`` (``LogsDirectory=``), the ``logs/`` directory with the JSON
log ``kalshi-guard.jsonl``. A directory we create gets mode 0700; an existing one is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kalshi_guard.config.schema import Settings
from kalshi_guard.core.errors import ConfigError

APP = "kalshi-guard"
DIR_MODE = 0o700
LOG_FILE_NAME = "kalshi-guard.jsonl"


def _first_entry(value: str | None) -> str | None:
    """The first non-empty entry of a colon-separated systemd directory list, or None."""
    if not value:
        return None
    for part in value.split(":"):
        if part.strip():
            return part.strip()
    return None


def resolve_state_dir(settings: Settings | None, env: Mapping[str, str] = os.environ) -> Path:
    """The state directory path per the order in the module docstring, without creating it."""
    if settings is not None and settings.state_dir is not None:
        return Path(settings.state_dir).expanduser()
    systemd = _first_entry(env.get("STATE_DIRECTORY"))
    if systemd:
        return Path(systemd)
    xdg = env.get("XDG_STATE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / APP
    home = env.get("HOME")
    base = Path(home) if home else Path.home()
    return base / ".local" / "state" / APP


def ensure_dir(path: Path, key: str = "state_dir") -> Path:
    """Create ``path`` (and parents) if missing; a directory created here gets mode 0700.

    Raises ConfigError (one line naming ``key``) if it cannot be created or is not a directory.
    """
    try:
        if not path.exists():
            path.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
            os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
        elif not path.is_dir():
            raise ConfigError([f"{key}: {str(path)!r} exists but is not a directory"])
    except OSError as exc:
        raise ConfigError(
            [f"{key}: {str(path)!r} cannot be created ({exc.strerror or type(exc).__name__})"]
        ) from None
    return path


def state_dir(settings: Settings | None, env: Mapping[str, str] = os.environ) -> Path:
    """The state directory (see the module docstring), created with mode 0700 if missing.

    Raises ConfigError if it cannot be created.
    """
    return ensure_dir(resolve_state_dir(settings, env))


def logs_dir(
    settings: Settings | None, env: Mapping[str, str] = os.environ, *, state: Path | None = None
) -> Path:
    """``$LOGS_DIRECTORY`` (first entry) if set, else ``<state dir>/logs``; created 0700 if missing.

    ``state`` short-cuts the state-directory resolution when the caller already has it.
    Raises ConfigError if it cannot be created.
    """
    systemd = _first_entry(env.get("LOGS_DIRECTORY"))
    if systemd:
        return ensure_dir(Path(systemd), "LOGS_DIRECTORY")
    base = state if state is not None else state_dir(settings, env)
    return ensure_dir(base / "logs", "state_dir")


def resolve_log_file(settings: Settings | None, env: Mapping[str, str] = os.environ) -> Path:
    """The JSON log file path per the rules above, without creating anything (for readers like ``tail``)."""
    systemd = _first_entry(env.get("LOGS_DIRECTORY"))
    base = Path(systemd) if systemd else resolve_state_dir(settings, env) / "logs"
    return base / LOG_FILE_NAME


def log_file(settings: Settings | None, env: Mapping[str, str] = os.environ, *, state: Path | None = None) -> Path:
    """The JSON log file the daemon writes and ``kalshi-guard tail`` reads."""
    return logs_dir(settings, env, state=state) / LOG_FILE_NAME


def ledger_sqlite_path(settings: Settings, env: Mapping[str, str] = os.environ) -> Path:
    """The SQLite ledger file used when ``ledger.url`` is unset: ``<state dir>/ledger.sqlite``."""
    return state_dir(settings, env) / "ledger.sqlite"


def ledger_url(settings: Settings, env: Mapping[str, str] = os.environ) -> str:
    """The ledger's SQLAlchemy URL: ``ledger.url`` when set (a secret: never log it), else the SQLite file."""
    if settings.ledger.url is not None:
        return settings.ledger.url.get_secret_value()
    return f"sqlite:///{ledger_sqlite_path(settings, env)}"
