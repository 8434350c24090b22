"""Logging: loguru sinks (readable stderr, rotating JSON file), stdlib interception, actor tags, secret masking.

- stderr: ``time | LEVEL | actor | message key=value…``; colour only on a TTY (and not with ``NO_COLOR``).
  When stderr is the journal (``$JOURNAL_STREAM`` matches), lines start with a ``<N>`` syslog priority
  instead of the time, so ``journalctl -p warning`` works.
- file: ``<logs dir>/kalshi-guard.jsonl`` (see ``config.paths``), loguru ``serialize=True`` (one JSON
  object per line: ``text`` and ``record``), mode 0600, rotation and retention from ``settings.logging``.
  ``enqueue=False``: a line is on disk when the logging call returns (an emergency-stop line is never
  lost in a queue at SIGKILL), and loguru sinks are thread-safe without the queue.
- stdlib ``logging`` (pykka, httpx, httpcore, uvicorn, sqlalchemy, websockets) is routed into loguru;
  httpx/httpcore/websockets/sqlalchemy only from WARNING. Whoever starts uvicorn must pass
  ``log_config=None`` so that its records propagate here.
- ``extra["actor"]``: bound by actors (``logger.bind(actor="guardian")``), else derived from the thread
  name (pykka's ``OrderPlacer-3`` → ``order_placer``, the name the tree gives the actor; ``MainThread`` →
  ``main``), else the thread's name.
- masking: a global loguru patcher runs before any sink and replaces every registered secret (the
  settings' ``SecretStr`` values, ``secrets=`` given here, :func:`register_secret` later, plus the
  password / long path segments of secret URLs) with ``**********`` in the message, in ``extra`` and in
  the text of logged exceptions (their whole cause/context chain).
- control characters: the same patcher escapes every control character (NUL, ESC, CR/LF, …, see
  :func:`escape_controls`) in the message and in ``extra``, so text that came from outside (a stop reason,
  a ticker, a header) can neither end a line early, forge a journal line nor drive the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote, urlsplit

from loguru import logger

from kalshi_guard.config.loader import MASK, secret_values
from kalshi_guard.config.paths import LOG_FILE_NAME, logs_dir
from kalshi_guard.config.schema import Settings

FILE_MODE = 0o600
MIN_SECRET_LEN = 4  # shorter values are not masked (they would mangle every line)
MIN_FRAGMENT_LEN = 16  # URL path segments / query values at least this long are masked on their own

QUIET_LOGGERS: dict[str, int] = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "websockets": logging.WARNING,
    "sqlalchemy": logging.WARNING,
    "uvicorn.access": logging.WARNING,
    "uvicorn": logging.INFO,
    "pykka": logging.DEBUG,
}
_SYSLOG_PRIORITY = {"TRACE": 7, "DEBUG": 7, "INFO": 6, "SUCCESS": 5, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}
_STDERR_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "<cyan>{extra[actor]: <14}</cyan> | <level>{message}</level>{_kg_kv}\n{exception}"
)
_JOURNAL_FORMAT = "{_kg_prio}{level: <8} {extra[actor]}: {message}{_kg_kv}\n{exception}"
_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {extra[actor]} | {message}"


class _Secrets:
    """The set of secret strings to mask, with one compiled pattern swapped atomically on change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        with self._lock:
            new = {v for v in secret_fragments(value) if len(v) >= MIN_SECRET_LEN} - self._values
            if not new:
                return
            self._values |= new
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)


_SECRETS = _Secrets()


def secret_fragments(value: str) -> set[str]:
    """A secret and the parts of it that identify it alone: URL password, long path segments, query values."""
    value = value.strip()
    out = {value, quote(value, safe="")}
    if "://" in value:
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            return out
        if password:
            out.add(password)
        out.update(seg for seg in parts.path.split("/") if len(seg) >= MIN_FRAGMENT_LEN)
        out.update(v for _k, v in parse_qsl(parts.query) if len(v) >= MIN_FRAGMENT_LEN)
    return {v for v in out if v}


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its identifying fragments) in every log record from now on; None is ignored."""
    if value:
        _SECRETS.add(value)


def mask_secrets(text: str) -> str:
    """``text`` with every registered secret replaced by ``**********``."""
    return _SECRETS.mask(text)


# C0 and C1 controls, DEL, Unicode line/paragraph separators and bidi overrides: anything that could end a
# log line early, forge a journal line, recolour a terminal or reorder what an operator reads.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape_one(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character escaped as visible ``\\xNN``/``\\uNNNN`` text (NUL, ESC,
    CR, LF, tab, DEL, C1, line separators, bidi overrides): one log record stays one line."""
    return _CONTROLS.sub(_escape_one, text)


def actor_for_thread(name: str) -> str:
    """The actor tag for a thread: ``OrderPlacer-3`` → ``order_placer``, ``MainThread`` → ``main``, else the name."""
    if name == "MainThread":
        return "main"
    m = re.fullmatch(r"Thread-\d+(?: \((.+)\))?", name)
    if m:
        return m.group(1) or "thread"
    m = re.fullmatch(r"(.+?)-\d+", name)
    if m and re.fullmatch(r"[A-Z][A-Za-z0-9]*", m.group(1)):  # pykka's class-name threads: the tree's name
        return re.sub(r"(?<!^)(?=[A-Z])", "_", m.group(1)).lower()
    return m.group(1) if m else name


def _mask_value(value: Any) -> Any:
    """Mask secrets in a value of ``extra`` (recursing into dicts, lists and tuples)."""
    if isinstance(value, str):
        return escape_controls(_SECRETS.mask(value))
    if isinstance(value, dict):
        return {_mask_value(k): _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value(v) for v in value]
    text = str(value)
    masked = _SECRETS.mask(text)
    return value if masked == text else masked


_SUBSTITUTES: dict[type, type[Exception]] = {}


def _substitute_type(cls: type[BaseException]) -> type[Exception]:
    """An Exception class printing as ``cls`` (same module and name), to carry a masked message."""
    sub = _SUBSTITUTES.get(cls)
    if sub is None:
        sub = type(cls.__name__, (Exception,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
        _SUBSTITUTES[cls] = sub
    return sub


def _chain(exc: BaseException | None) -> Iterable[BaseException]:
    """Every exception reachable through ``__cause__``/``__context__`` (each once)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, e.__context__]


def _exception_text(exc: BaseException) -> str:
    """Everything of an exception that a formatter may print: str, repr of args and notes."""
    try:
        notes = getattr(exc, "__notes__", None) or []
        return "\n".join([str(exc), *map(repr, exc.args), *map(str, notes)])
    except Exception:  # a broken __str__: substitute it to be safe
        return MASK


def _masked_exception(exc: BaseException, memo: dict[int, BaseException]) -> BaseException:
    """A stand-in for ``exc`` (same printed type) whose message and chain are masked."""
    if id(exc) in memo:
        return memo[id(exc)]
    try:
        text = _SECRETS.mask(str(exc))
    except Exception:
        text = MASK
    new = _substitute_type(type(exc))(text)
    memo[id(exc)] = new
    new.__traceback__ = exc.__traceback__
    new.__suppress_context__ = exc.__suppress_context__
    if exc.__cause__ is not None:
        new.__cause__ = _masked_exception(exc.__cause__, memo)
    if exc.__context__ is not None:
        new.__context__ = _masked_exception(exc.__context__, memo)
    for note in getattr(exc, "__notes__", None) or []:
        new.add_note(_SECRETS.mask(str(note)))
    return new


def _patch(record: dict[str, Any]) -> None:
    """The global patcher: tag the actor and mask secrets before any sink sees the record."""
    extra = record["extra"]
    if "actor" not in extra:
        extra["actor"] = actor_for_thread(record["thread"].name)
    record["message"] = escape_controls(_SECRETS.mask(record["message"]))
    for key, value in list(extra.items()):
        extra[key] = _mask_value(value)
    exc_info = record["exception"]
    if exc_info is not None and exc_info.value is not None:
        leaky = any(_SECRETS.mask(t) != t for t in map(_exception_text, _chain(exc_info.value)))
        if leaky:
            value = _masked_exception(exc_info.value, {})
            record["exception"] = type(exc_info)(type(value), value, exc_info.traceback)


def _kv(record: dict[str, Any]) -> str:
    """`` key=value`` for every extra field but the actor (already masked)."""
    items = [(k, v) for k, v in record["extra"].items() if k != "actor"]
    return "".join(f" {k}={v!r}" if isinstance(v, str) else f" {k}={v}" for k, v in items)


def _stderr_format(record: dict[str, Any]) -> str:
    record["_kg_kv"] = _kv(record)
    return _STDERR_FORMAT


def _journal_format(record: dict[str, Any]) -> str:
    record["_kg_kv"] = _kv(record)
    record["_kg_prio"] = f"<{_SYSLOG_PRIORITY.get(record['level'].name, 6)}>"
    return _JOURNAL_FORMAT


def _is_journal(stream: TextIO, env: Mapping[str, str]) -> bool:
    """True if ``stream`` is the journald stream systemd gave us (``$JOURNAL_STREAM`` = dev:inode)."""
    value = env.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class InterceptHandler(logging.Handler):
    """A stdlib handler that re-emits every record through loguru at the matching level and caller."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            try:
                level: str | int = logger.level(record.levelname).name
            except ValueError:
                level = record.levelno
            frame, depth = logging.currentframe(), 0
            while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
                frame = frame.f_back
                depth += 1
            logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())
        except Exception:
            self.handleError(record)


def _opener(path: str, flags: int) -> int:
    """Open log files 0600 from the first byte."""
    return os.open(path, flags, FILE_MODE)


@dataclass(slots=True)
class LogHandle:
    """The installed sinks; :meth:`close` removes them and the stdlib interception."""

    log_file: Path
    sink_ids: list[int]
    intercept: logging.Handler
    saved_levels: dict[str, int] = field(default_factory=dict)
    restore_default: bool = False  # put loguru's plain stderr handler back on close
    closed: bool = False

    def register_secret(self, value: str | None) -> None:
        """Mask ``value`` from now on (same as the module-level :func:`register_secret`)."""
        register_secret(value)

    def close(self) -> None:
        """Remove this handle's sinks and the stdlib handler, restore logger levels and loguru's
        default stderr handler if setup removed it; idempotent."""
        global _active, _default_id
        if self.closed:
            return
        self.closed = True
        for hid in self.sink_ids:
            with contextlib.suppress(ValueError):
                logger.remove(hid)
        logging.getLogger().removeHandler(self.intercept)
        for name, level in self.saved_levels.items():
            logging.getLogger(name or None).setLevel(level)
        if _active is self:
            _active = None
        if self.restore_default:
            _default_id = logger.add(sys.stderr)


_active: LogHandle | None = None
_default_id: int | None = 0  # loguru's own stderr handler until setup_logging removes it
_setup_lock = threading.Lock()


def setup_logging(
    settings: Settings,
    *,
    state_dir: Path,
    secrets: Iterable[str] = (),
    stderr: TextIO | None = sys.stderr,
    env: Mapping[str, str] = os.environ,
    log_dir: Path | None = None,
) -> LogHandle:
    """Install the sinks described in the module docstring and return their handle.

    A previous handle from this function is closed first; loguru's default stderr handler is
    removed. ``stderr=None`` installs only the file sink. ``log_dir`` overrides ``$LOGS_DIRECTORY`` /
    ``<state_dir>/logs``. Raises ConfigError if the log directory cannot be created, and loguru's
    ValueError only for a rotation it does not understand (the loader already refuses those).
    """
    global _active, _default_id
    with _setup_lock:
        if _active is not None:
            _active.close()
        for value in [*secret_values(settings), *secrets]:
            register_secret(value)
        logger.configure(patcher=_patch)
        removed_default = False
        if _default_id is not None:
            with contextlib.suppress(ValueError):
                logger.remove(_default_id)  # loguru's default stderr handler (or our re-added one)
                removed_default = True
            _default_id = None
        directory = log_dir if log_dir is not None else logs_dir(settings, env, state=state_dir)
        path = directory / LOG_FILE_NAME
        if path.exists():
            os.chmod(path, FILE_MODE)
        conf = settings.logging
        ids = [
            logger.add(
                str(path), level=conf.file_level, format=_FILE_FORMAT, serialize=True,
                rotation=conf.rotation, retention=conf.retention, enqueue=False, encoding="utf-8",
                opener=_opener, backtrace=False, diagnose=False,
            )
        ]
        if stderr is not None:
            journal = _is_journal(stderr, env)
            colour = not journal and "NO_COLOR" not in env and bool(getattr(stderr, "isatty", bool)())
            ids.append(logger.add(
                stderr, level=conf.level, format=_journal_format if journal else _stderr_format,
                colorize=colour, backtrace=False, diagnose=False, enqueue=False,
            ))
        intercept = InterceptHandler()
        root = logging.getLogger()
        saved = {"": root.level} | {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
        root.addHandler(intercept)
        root.setLevel(logging.DEBUG)
        for name, level in QUIET_LOGGERS.items():
            logging.getLogger(name).setLevel(level)
        _active = LogHandle(log_file=path, sink_ids=ids, intercept=intercept, saved_levels=saved,
                            restore_default=removed_default)
        return _active
