"""The control API's bearer token: where it comes from, how it is stored, and how a request is checked.

Order of precedence for the daemon (:func:`resolve_token`):

1. ``control.token`` from the settings (the loader fills it from the config file, the environment or
   the systemd credential ``control-token``);
2. ``$CREDENTIALS_DIRECTORY/control-token`` (a ``LoadCredential=control-token`` the loader did not map);
3. ``<state dir>/control-token`` when it exists (kept stable across restarts);
4. otherwise a new ``secrets.token_urlsafe(32)`` written to ``<state dir>/control-token`` with mode 0600
   from its first byte, so ``kalshi-guard status|stop|reset`` run by the same user can read it.

Off loopback (``control.host`` such as ``0.0.0.0``) only 1. counts: the configuration is refused without
an explicit ``control.token`` (file, environment or credential) and the daemon warns loudly at start; see
``config.exposure``. A token file readable or writable by group/others is refused (``ConfigError``), as
is a token shorter than :data:`MIN_TOKEN_CHARS` or one containing whitespace. Tokens never appear in errors or logs.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from kalshi_guard.config.schema import Settings
from kalshi_guard.core.errors import ConfigError

TOKEN_FILE = "control-token"  # noqa: S105 - a file name, not a secret
CREDENTIAL_NAME = "control-token"
MIN_TOKEN_CHARS = 16


def token_path(state_dir: Path) -> Path:
    """Where the generated token lives: ``<state dir>/control-token``."""
    return Path(state_dir) / TOKEN_FILE


def _validated(token: str, where: str) -> str:
    token = token.strip()
    if not token:
        raise ConfigError([f"{where}: the control token is empty"])
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError([f"{where}: the control token is shorter than {MIN_TOKEN_CHARS} characters"])
    if any(ch.isspace() for ch in token) or not token.isprintable():
        raise ConfigError([f"{where}: the control token contains whitespace or control characters"])
    return token


def _configured(settings: Settings, env: Mapping[str, str]) -> str | None:
    """The token from settings or a systemd credential, or ``None``."""
    if settings.control.token is not None:
        return _validated(settings.control.token.get_secret_value(), "control.token")
    creds = env.get("CREDENTIALS_DIRECTORY")
    if creds:
        path = Path(creds) / CREDENTIAL_NAME
        if path.is_file():
            try:
                raw = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problem = f"credential {CREDENTIAL_NAME}: cannot read ({type(exc).__name__})"
                raise ConfigError([problem]) from None
            return _validated(raw, f"credential {CREDENTIAL_NAME}")
    return None


def _read_token_file(path: Path) -> str:
    """Read and check a token file. Raises ``ConfigError`` if it is unsafe or unreadable."""
    try:
        st = path.lstat()  # a symlink is refused below (not a regular file)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot stat the control token file ({exc.strerror})"]) from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError([f"{path}: the control token file is not a regular file"])
    if st.st_mode & 0o077:
        raise ConfigError(
            [f"{path}: the control token file is accessible by group/others "
             f"(mode {stat.S_IMODE(st.st_mode):04o}); run chmod 600 on it"]
        )
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read the control token file ({type(exc).__name__})"]) from None
    return _validated(raw, str(path))


def _write_new_token(path: Path) -> str:
    """Create ``path`` with a fresh token, mode 0600 from the first byte, without clobbering a winner.

    The token goes to a temporary file (``O_EXCL``, 0600) that is then hard-linked into place; if another
    process created the file first, its token is returned instead. Raises ``ConfigError`` on I/O errors.
    """
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask may only remove bits; make the mode exact
            os.write(fd, (token + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_token_file(path)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot write the control token file ({exc.strerror})"]) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return token


def resolve_token(settings: Settings, state_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """The daemon's control token (see the module docstring for the order).

    Raises ``ConfigError`` for an unsafe/unreadable token file, a too-short token, or a state
    directory where the file cannot be written.
    """
    env = os.environ if env is None else env
    configured = _configured(settings, env)
    if configured is not None:
        return configured
    path = token_path(state_dir)
    if path.exists() or path.is_symlink():
        return _read_token_file(path)
    return _write_new_token(path)


def read_token_for_cli(
    settings: Settings, state_dir: Path, env: Mapping[str, str] | None = None
) -> str | None:
    """The token the CLI should send, or ``None`` when none is configured and no token file exists yet.

    Never creates a file. Raises ``ConfigError`` when the file exists but is unsafe or unreadable (for
    example the daemon runs as another user: run the CLI as that user or configure ``control.token``).
    """
    env = os.environ if env is None else env
    configured = _configured(settings, env)
    if configured is not None:
        return configured
    path = token_path(state_dir)
    if not (path.exists() or path.is_symlink()):
        return None
    return _read_token_file(path)


def check_bearer(header_value: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant-time comparison).

    ``False`` for a missing header, another scheme, an empty token, or any mismatch; never raises.
    """
    if not header_value or not token:
        return False
    scheme, _, presented = header_value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    presented = presented.strip()
    try:
        given = presented.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given, token.encode("utf-8"))
