"""Online backups of the ledger and their verification.

SQLite: the backup API copies a consistent snapshot while the daemon keeps writing (pages are copied in
steps; a write between steps restarts the copy from the changed pages, so the result is one transaction's
state). The copy is written to a temporary file beside the target, checked, made 0600 and renamed into
place, so a backup file either is whole or does not exist. PostgreSQL: ``pg_dump --format=custom`` when it is
on the PATH (an error naming it when not).

:func:`inspect` opens a backup read-only and reports ``PRAGMA integrity_check``, the schema version and the
row count of every table; :func:`verify` refuses (``LedgerError``) a file that is not a whole, current
ledger. Nothing here reads or logs the database URL's password.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger.schema import SCHEMA_VERSION, Base

PAGES_PER_STEP = 256  # about 1 MiB at SQLite's 4 KiB pages: writers wait at most one step
PREFIX = "ledger-"


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """What a backup file holds: its path, size, integrity result, schema version and rows per table."""

    path: Path
    size: int
    integrity: str
    schema_version: int | None
    rows: dict[str, int]

    @property
    def ok(self) -> bool:
        """Whole and current: integrity ``ok`` and this build's schema version."""
        return self.integrity == "ok" and self.schema_version == SCHEMA_VERSION


def backup_name(at: float) -> str:
    """``ledger-20261130T185900Z.sqlite``: sortable by time."""
    return f"{PREFIX}{datetime.fromtimestamp(at, UTC).strftime('%Y%m%dT%H%M%SZ')}.sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or None for another database."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def backup_sqlite(source: Path, target: Path, *, pause: Callable[[], None] = lambda: None) -> BackupInfo:
    """Copy the SQLite ledger at ``source`` to ``target`` online and verify the copy. ``pause`` runs between
    steps (a test can interleave writes there). Raises ``LedgerError`` (no target left behind) when the
    source cannot be read or the copy does not verify."""
    if not source.is_file():
        raise LedgerError(f"no ledger at {source}")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_name(f".{target.name}.partial")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as src, \
                contextlib.closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst, pages=PAGES_PER_STEP, progress=lambda *_: pause())
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        info = inspect(tmp)
        if not info.ok:
            raise LedgerError(f"the copy of {source} does not verify: integrity {info.integrity!r}, "
                              f"schema {info.schema_version}")
        os.replace(tmp, target)
    except sqlite3.Error as exc:
        raise LedgerError(f"backup of {source} failed: {exc}") from None
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)
    return BackupInfo(target, target.stat().st_size, info.integrity, info.schema_version, info.rows)


def backup_postgres(url: str, target: Path) -> Path:
    """``pg_dump --format=custom`` of the ledger's database into ``target`` (0600). Raises ``LedgerError``
    when ``pg_dump`` is missing or fails (its stderr, which never holds the password, is in the message)."""
    exe = shutil.which("pg_dump")
    if exe is None:
        raise LedgerError("pg_dump is not on the PATH (install the PostgreSQL client to back up a PostgreSQL ledger)")
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.close(fd)
    res = subprocess.run([exe, "--format=custom", f"--file={target}", f"--dbname={dsn}"], capture_output=True,
                         text=True, timeout=3600, check=False)
    if res.returncode != 0:
        target.unlink(missing_ok=True)
        raise LedgerError(f"pg_dump failed ({res.returncode}): {res.stderr.strip()[:300]}")
    return target


def inspect(path: Path) -> BackupInfo:
    """Open ``path`` read-only and report integrity, schema version and row counts (never raises for a bad
    file: a non-database reads as integrity ``"not a database: …"``)."""
    rows: dict[str, int] = {}
    version: int | None = None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for name in sorted(Base.metadata.tables):
                if name in tables:
                    rows[name] = int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # noqa: S608
            if "schema_version" in tables:
                got = conn.execute("SELECT max(version) FROM schema_version").fetchone()
                version = None if got is None or got[0] is None else int(got[0])
    except sqlite3.Error as exc:
        return BackupInfo(path, path.stat().st_size if path.exists() else 0, f"not a database: {exc}", None, rows)
    return BackupInfo(path, path.stat().st_size, integrity, version, rows)


def verify(path: Path) -> BackupInfo:
    """:func:`inspect`, raising ``LedgerError`` unless the file is a whole ledger of this schema version."""
    if not path.is_file():
        raise LedgerError(f"no backup at {path}")
    info = inspect(path)
    if not info.ok:
        raise LedgerError(f"{path} is not a usable ledger backup: integrity {info.integrity!r}, "
                          f"schema version {info.schema_version} (this build: {SCHEMA_VERSION})")
    missing = sorted(set(Base.metadata.tables) - set(info.rows))
    if missing:
        raise LedgerError(f"{path} lacks tables {', '.join(missing)}")
    return info


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest ``ledger-*.sqlite`` backups in ``directory``; return what went."""
    found = sorted(directory.glob(f"{PREFIX}*.sqlite"))
    gone = found[:-keep] if keep > 0 else found
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def restore_sqlite(backup: Path, ledger_file: Path, *, now: float | None = None) -> tuple[BackupInfo, Path | None]:
    """Put a verified ``backup`` in place of ``ledger_file`` (0600); the ledger it replaces (and its WAL) is
    kept beside it as ``<name>.before-restore-<time>``. Returns (what was restored, where the old one went).
    Raises ``LedgerError`` (nothing changed) when the backup does not verify. The caller makes sure no
    daemon uses the ledger."""
    info = verify(backup)
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime("%Y%m%dT%H%M%SZ")
    aside: Path | None = None
    tmp = ledger_file.with_name(f".{ledger_file.name}.restoring")
    shutil.copyfile(backup, tmp)
    os.chmod(tmp, 0o600)
    if ledger_file.exists():
        aside = ledger_file.with_name(f"{ledger_file.name}.before-restore-{stamp}")
        os.replace(ledger_file, aside)
        for suffix in ("-wal", "-shm"):
            side = ledger_file.with_name(ledger_file.name + suffix)
            if side.exists():
                os.replace(side, aside.with_name(aside.name + suffix))
    os.replace(tmp, ledger_file)
    return info, aside
