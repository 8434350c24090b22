"""Engine set-up (SQLite WAL pragmas, PostgreSQL via psycopg 3) and the transaction helpers every part uses.

SQLite choices:

- ``journal_mode=WAL``: readers never block the writer and vice versa.
- ``synchronous``: ``NORMAL`` by default (``ledger.sqlite_synchronous``). In WAL mode it survives any
  *process* crash (SIGKILL, OOM, a watchdog abort: the crash tests) with every commit intact; only an OS
  crash or power loss can lose the last commits. That case boots HALTED (the run never ended cleanly) and
  the exchange is the evidence: start-up resolution settles every open order, and a fill of an order the
  ledger lost is an orphan, which halts. ``FULL`` fsyncs the WAL on every commit (one disk flush per
  order step, measured in bench/bench_orders.py) for operators who prefer it.
- the database file is created 0600 before SQLite opens it (SQLite gives ``-wal``/``-shm`` the same mode).
- ``foreign_keys=ON``, ``busy_timeout=10000`` (another process, e.g. the CLI, may hold the write lock).
- pysqlite's own transaction handling is turned off and every write transaction starts with
  ``BEGIN IMMEDIATE``: the write lock is taken up front, so two writers queue on the busy timeout
  instead of one failing with "database is locked" when upgrading a read lock. Read-only work uses a plain
  ``BEGIN`` (a WAL snapshot) and never waits for a writer.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kalshi_guard.core import observe
from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger.hot import HotSql
from kalshi_guard.ledger.types import to_utc

BUSY_TIMEOUT_MS = 10_000
_READONLY = "ledger_readonly"


def _json_default(obj: object) -> object:
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def _dumps(obj: object) -> str:
    return json.dumps(obj, default=_json_default, sort_keys=True)


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of a database error (driver message, no SQL, no URL)."""
    orig = getattr(exc, "orig", None)
    detail = str(orig if orig is not None else exc).strip().splitlines()
    first = detail[0] if detail else ""
    return f"{type(orig or exc).__name__}: {first[:300]}"


def parse_url(url: str) -> URL:
    """Parse a ledger URL; ``postgresql://`` means psycopg 3. Raises ``LedgerError`` for a bad URL."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise LedgerError("invalid ledger URL (expected sqlite:///path or postgresql+psycopg://…)") from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    backend = u.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise LedgerError(f"unsupported ledger backend {backend!r}: use sqlite or postgresql")
    return u


def create_ledger_engine(url: str, synchronous: str = "NORMAL") -> Engine:
    """Build the engine for ``url``, creating the SQLite file's parent directories.

    Raises ``LedgerError`` when the URL is unusable, the directory cannot be created or SQLite refuses WAL.
    """
    u = parse_url(url)
    if u.get_backend_name() == "sqlite":
        db = u.database or ""
        if db in ("", ":memory:") or db.startswith("file:"):
            raise LedgerError("the ledger needs a SQLite file (sqlite:///path/ledger.sqlite), not memory")
        try:
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the ledger directory: {exc.strerror}") from None
        _private_file(Path(db).expanduser())
        engine = create_engine(u, json_serializer=_dumps)
        _install_sqlite_hooks(engine, synchronous)
        return engine
    return create_engine(u, json_serializer=_dumps, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _private_file(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite opens it (SQLite then creates ``-wal``/``-shm`` with the
    same mode); an existing file or sidecar open to group/others is narrowed to 0600. Raises ``LedgerError``
    when the file cannot be created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.close(fd)
    except OSError as exc:
        raise LedgerError(f"cannot create the ledger file: {exc.strerror}") from None
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(OSError):  # a sidecar may not exist; a file we do not own stays as it is
            if stat.S_IMODE(p.stat().st_mode) & 0o077:
                os.chmod(p, 0o600)


def _install_sqlite_hooks(engine: Engine, synchronous: str = "NORMAL") -> None:
    if synchronous not in ("NORMAL", "FULL"):
        raise LedgerError(f"sqlite synchronous must be NORMAL or FULL, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise LedgerError(f"SQLite refused WAL journal mode (got {mode!r})")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class LedgerCore:
    """Engine, sessions, clock and the two transaction helpers shared by every ledger part."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        self._dialect = engine.dialect.name
        self._writer = sessionmaker(engine, expire_on_commit=False)
        self._reader = sessionmaker(engine.execution_options(**{_READONLY: True}), expire_on_commit=False)
        self._write_lock: Any = threading.Lock() if self._dialect == "sqlite" else nullcontext()
        self._closed = threading.Event()
        self._hot = HotSql(self._dialect)
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._dialect

    def _now(self) -> datetime:
        """The clock's time as an aware UTC datetime (what ORM attributes hold)."""
        return to_utc(self._clock())

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise LedgerError("the ledger is closed")

    @contextmanager
    def _write(self, op: str) -> Iterator[Session]:
        """One short write transaction; commits on exit, rolls back and raises ``LedgerError`` on failure.

        On SQLite the writers of this process queue on a Python lock first: a waiter is woken the moment
        the lock is released, where SQLite's own busy handler would sleep 1, 2, 5, 10 … ms between retries
        (the busy timeout still covers other processes, such as the CLI).
        """
        self._check_open()
        try:
            with self._write_lock, self._writer.begin() as session:
                yield session
            observe.emit("ledger_write", op=op)  # committed: the dashboard's stream looks again
        except LedgerError:
            raise
        except (SQLAlchemyError, ValueError) as exc:
            raise LedgerError(f"{op} failed: {describe_error(exc)}") from exc

    @contextmanager
    def _read(self, op: str) -> Iterator[Session]:
        """One read-only transaction (a snapshot); raises ``LedgerError`` on failure."""
        self._check_open()
        try:
            with self._reader.begin() as session:
                yield session
        except LedgerError:
            raise
        except (SQLAlchemyError, ValueError) as exc:
            raise LedgerError(f"{op} failed: {describe_error(exc)}") from exc

    @contextmanager
    def _raw_write(self, op: str) -> Iterator[Any]:
        """Like :meth:`_write`, on the pooled DB-API connection (the hot paths of :mod:`ledger.hot`).

        Yields the connection; commits on exit, rolls back and raises ``LedgerError`` on failure (a body
        may also roll back itself, the exit commit then commits nothing).
        """
        self._check_open()
        try:
            with self._write_lock:
                conn = self._engine.raw_connection()
                try:
                    if self._dialect == "sqlite":
                        conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield conn
                    except BaseException:
                        conn.rollback()
                        raise
                    conn.commit()
                finally:
                    conn.close()
            observe.emit("ledger_write", op=op)
        except LedgerError:
            raise
        except (SQLAlchemyError, ValueError) as exc:
            raise LedgerError(f"{op} failed: {describe_error(exc)}") from exc
        except self._dbapi_error as exc:
            raise LedgerError(f"{op} failed: {describe_error(exc)}") from exc

    def _raw_rows(self, op: str, sql: str, params: dict[str, Any]) -> list[Any]:
        """Run one read-only statement (a consistent snapshot by itself) and return every row.

        Raises ``LedgerError`` on failure.
        """
        self._check_open()
        try:
            conn = self._engine.raw_connection()
            try:
                cur = conn.cursor()
                try:
                    cur.execute(sql, params)
                    return list(cur.fetchall())
                finally:
                    cur.close()
            finally:
                conn.close()
        except (SQLAlchemyError, ValueError) as exc:
            raise LedgerError(f"{op} failed: {describe_error(exc)}") from exc
        except self._dbapi_error as exc:
            raise LedgerError(f"{op} failed: {describe_error(exc)}") from exc

    def close(self) -> None:
        """Release every pooled connection; later calls raise ``LedgerError``. Idempotent; never raises."""
        if self._closed.is_set():
            return
        self._closed.set()
        with suppress(SQLAlchemyError):
            self._engine.dispose()
