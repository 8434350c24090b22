"""The daemon's scheduled backups and the backup commands' refusals (control.backups)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_guard.config.schema import BackupSettings, Settings
from kalshi_guard.control.backups import BackupScheduler, check_restore, take_backup
from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger import Ledger
from tests.waiting import wait_until


@pytest.fixture
def settings_and_ledger(tmp_path: Path):
    settings = Settings(state_dir=tmp_path / "state", backup=BackupSettings(interval_s=0.05, keep=2))
    (tmp_path / "state").mkdir()
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'state' / 'ledger.sqlite'}")
    yield settings, ledger
    ledger.close()


def test_the_schedule_writes_backups_and_keeps_the_newest(settings_and_ledger, tmp_path):
    settings, ledger = settings_and_ledger
    scheduler = BackupScheduler(settings, ledger)
    scheduler.start()
    try:
        wait_until(lambda: len([a for a in ledger.activity("BACKUP", limit=10)]) >= 3, 20, "three backups")
    finally:
        scheduler.stop()
    files = sorted((tmp_path / "state" / "backups").glob("ledger-*.sqlite"))
    assert 1 <= len(files) <= 2  # keep = 2 (names are per second: several backups may share one)
    assert all(a.message.startswith("backup written") for a in ledger.activity("BACKUP", limit=10))


def test_no_schedule_when_the_interval_is_zero(tmp_path):
    settings = Settings(state_dir=tmp_path, backup=BackupSettings(interval_s=0))
    scheduler = BackupScheduler(settings, None)
    scheduler.start()
    assert not scheduler._thread.is_alive()
    scheduler.stop()


def test_a_failed_backup_is_recorded(tmp_path):
    settings = Settings(state_dir=tmp_path / "no-ledger-here")
    (tmp_path / "elsewhere").mkdir()
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'elsewhere' / 'l.sqlite'}")
    try:
        with pytest.raises(LedgerError, match="no ledger"):
            take_backup(settings, ledger=ledger)
        (row,) = ledger.activity("BACKUP")
        assert row.level == "error"
    finally:
        ledger.close()


def test_check_restore_opens_the_copy_as_a_ledger(settings_and_ledger, tmp_path):
    settings, ledger = settings_and_ledger
    info = take_backup(settings, tmp_path / "b.sqlite", ledger=ledger)
    assert check_restore(tmp_path / "b.sqlite").rows == info.rows
    (tmp_path / "junk.sqlite").write_bytes(b"junk")
    with pytest.raises(LedgerError):
        check_restore(tmp_path / "junk.sqlite")
