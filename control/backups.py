"""``kalshi-guard backup`` and ``kalshi-guard restore``, and the daemon's scheduled backups.

- ``backup [--to FILE]``: an online copy of the ledger (the daemon may be running), verified, 0600, written
  to ``backup.dir`` (default ``<state dir>/backups``) as ``ledger-<UTC time>.sqlite`` unless ``--to`` names
  the file; prints the file, its size, the rows per table and the time it took; prunes to ``backup.keep``.
- ``restore --from FILE``: refuses while a daemon runs on this state directory (its pid file); verifies the
  backup (integrity check, schema version, every table present), keeps the ledger it replaces beside it
  (``ledger.sqlite.before-restore-<time>``), puts the backup in place and prints the row counts. The next
  start's reconciliation compares the restored ledger with the exchange before the gate may open.
- ``restore --from FILE --check``: the same verification, restored into a scratch directory and opened as a
  ledger, without touching the live one; recorded as ``RESTORE_VERIFIED`` in the activity log (the going-live
  checks read it).

Every backup and verification is one activity-log row (``BACKUP`` / ``RESTORE_VERIFIED``). Exit 0; 1 when a
step fails (the reason on stderr; nothing half-written is left); 78 for a bad config.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from loguru import logger

from kalshi_guard.config.paths import ledger_sqlite_path, ledger_url, state_dir
from kalshi_guard.config.schema import Settings
from kalshi_guard.core.errors import LedgerError
from kalshi_guard.core.exits import EX_FAIL, EX_OK
from kalshi_guard.ledger.backup import (
    BackupInfo,
    backup_name,
    backup_postgres,
    backup_sqlite,
    prune,
    restore_sqlite,
    sqlite_path,
    verify,
)

log = logger.bind(actor="backup")
_HELP = {"backup": "write an online, verified copy of the ledger",
         "restore": "verify a backup and put it in place of the ledger (the daemon must be stopped)"}


def backup_dir(settings: Settings) -> Path:
    """Where scheduled and CLI backups go."""
    return settings.backup.dir or state_dir(settings) / "backups"


def take_backup(settings: Settings, target: Path | None = None, *, ledger: Any = None) -> BackupInfo | Path:
    """One backup now (SQLite: verified ``BackupInfo``; PostgreSQL: the dump's path), pruned to
    ``backup.keep`` when written to the backup directory, recorded in the activity log through ``ledger``
    when one is given. Raises ``LedgerError`` on failure (the failure is recorded too)."""
    url = ledger_url(settings)
    directory = backup_dir(settings)
    started = time.monotonic()
    try:
        source = sqlite_path(url)
        if source is None:
            result: BackupInfo | Path = backup_postgres(url, target or directory / backup_name(time.time()).replace(
                ".sqlite", ".pgdump"))
        else:
            result = backup_sqlite(source, target or directory / backup_name(time.time()))
    except LedgerError as exc:
        if ledger is not None:
            ledger.log_activity("BACKUP", "error", f"backup failed: {exc}", {})
        raise
    pruned = prune(directory, settings.backup.keep) if target is None else []
    took = round(time.monotonic() - started, 3)
    if ledger is not None:
        path = result.path if isinstance(result, BackupInfo) else result
        rows = result.rows if isinstance(result, BackupInfo) else {}
        ledger.log_activity("BACKUP", "info", f"backup written: {path.name}",
                            {"path": str(path), "seconds": took, "rows": rows, "pruned": len(pruned)})
    return result


def check_restore(backup: Path) -> BackupInfo:
    """Verify ``backup`` by restoring it into a scratch directory and opening it as a ledger (migrations and
    all). Raises ``LedgerError`` when it is not usable."""
    from kalshi_guard.ledger.store import Ledger

    info = verify(backup)
    with tempfile.TemporaryDirectory(prefix="kalshi-guard-restore-") as scratch:
        target = Path(scratch) / "ledger.sqlite"
        restore_sqlite(backup, target)
        restored = Ledger.open(f"sqlite:///{target}")
        try:
            restored.schema_version()
        finally:
            restored.close()
        again = verify(target)
    if again.rows != info.rows:
        raise LedgerError(f"the restored copy of {backup} differs from it: {again.rows} != {info.rows}")
    return info


class BackupScheduler:
    """The daemon's scheduled backups: one every ``backup.interval_s`` in a thread of its own (a backup never
    blocks trading: SQLite's backup copies in small steps). A failure is logged, recorded and alerted by
    the activity row; the next attempt comes at the next interval."""

    def __init__(self, settings: Settings, ledger: Any) -> None:
        self.settings, self.ledger = settings, ledger
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backup-scheduler", daemon=True)

    def start(self) -> None:
        """Start the schedule (no-op when ``backup.interval_s`` is 0)."""
        if self.settings.backup.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        """Stop; a backup in progress finishes first (bounded by its own step size)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.backup.interval_s):
            try:
                result = take_backup(self.settings, ledger=self.ledger)
                log.info("scheduled backup written: {}", result.path if isinstance(result, BackupInfo) else result)
            except Exception as exc:  # the schedule goes on; the row and the log say what failed
                log.error("scheduled backup failed: {}", exc)


# -- CLI ----------------------------------------------------------------------------------------------


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``backup`` or ``restore``."""
    p = subparsers.add_parser(name, parents=[common], help=_HELP[name], description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    if name == "backup":
        p.add_argument("--to", help="write the backup to this file (default: the backup directory)")
        p.set_defaults(func=_run_backup)
    else:
        p.add_argument("--from", dest="source", required=True, help="the backup file to restore")
        p.add_argument("--check", action="store_true", help="verify by a scratch restore; change nothing")
        p.set_defaults(func=_run_restore)


def _settings(args: argparse.Namespace) -> Settings:
    from kalshi_guard.config.loader import load_settings

    return load_settings(Path(args.config) if getattr(args, "config", None) else None)


def _print_info(info: BackupInfo) -> None:
    print(f"file      {info.path}")
    print(f"size      {info.size} bytes")
    print(f"integrity {info.integrity}, schema version {info.schema_version}")
    for table, count in info.rows.items():
        print(f"  {table:<20} {count} rows")


def _with_ledger(settings: Settings) -> Any:
    from kalshi_guard.ledger.store import Ledger

    return Ledger.open(ledger_url(settings))


def _run_backup(args: argparse.Namespace) -> int:
    settings = _settings(args)
    started = time.monotonic()
    try:
        ledger = _with_ledger(settings)
        try:
            result = take_backup(settings, Path(args.to) if args.to else None, ledger=ledger)
        finally:
            ledger.close()
    except LedgerError as exc:
        print(f"kalshi-guard backup: {exc}", file=sys.stderr)
        return EX_FAIL
    if isinstance(result, BackupInfo):
        _print_info(result)
    else:
        print(f"file      {result}")
    print(f"took      {time.monotonic() - started:.3f} s")
    return EX_OK


def _run_restore(args: argparse.Namespace) -> int:
    from kalshi_guard.control.pidfile import holder_pid, pidfile_path

    settings = _settings(args)
    source = Path(args.source)
    try:
        if args.check:
            info = check_restore(source)
            ledger = _with_ledger(settings)
            try:
                ledger.log_activity("RESTORE_VERIFIED", "info", f"restore of {source.name} verified",
                                    {"path": str(source), "rows": info.rows})
            finally:
                ledger.close()
            _print_info(info)
            print("verified: a scratch restore opened as a ledger with the same rows")
            return EX_OK
        if settings.ledger.url is not None:
            print("kalshi-guard restore: a PostgreSQL ledger is restored with pg_restore (see docs/operations.md)",
                  file=sys.stderr)
            return EX_FAIL
        pid = holder_pid(pidfile_path(state_dir(settings)))
        if pid is not None:
            print(f"kalshi-guard restore: refused — a daemon (pid {pid}) runs on this state directory; stop it "
                  "first", file=sys.stderr)
            return EX_FAIL
        info, aside = restore_sqlite(source, ledger_sqlite_path(settings))
    except LedgerError as exc:
        print(f"kalshi-guard restore: {exc}", file=sys.stderr)
        return EX_FAIL
    _print_info(info)
    if aside is not None:
        print(f"the ledger it replaced is kept as {aside}")
    print("restored: the next start reconciles it with the exchange before trading")
    return EX_OK
