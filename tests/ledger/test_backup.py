"""Online backups of the SQLite ledger (ledger.backup): consistent under concurrent writes, verified,
0600, pruned, and restored with the old ledger kept aside."""

from __future__ import annotations

import sqlite3
import stat
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger import FillRecord, Ledger, OrderStatus
from kalshi_guard.ledger.backup import backup_name, backup_sqlite, inspect, prune, restore_sqlite, verify

D = Decimal
TS = 1_780_000_000.0


def rows_of(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows, ordered, read straight from the file."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}  # noqa: S608


def trade(ledger: Ledger, i: int) -> None:
    coid = f"c{i}"
    ledger.insert_intent(client_order_id=coid, ticker="KXA-26-T1", event_ticker="KXA-26", book_side="bid",
                         outcome="yes", action="buy", count=D(2), price=D("0.40"), time_in_force="immediate_or_cancel")
    ledger.transition(coid, OrderStatus.SENT)
    ledger.book_fill(FillRecord(f"t{i}", coid, f"ex-{i}", "KXA-26-T1", "bid", D(2), D("0.40"), D("0.01"), True,
                                TS + i))


def consistent(path: Path) -> None:
    """The snapshot is one transaction's state: every fill's order is there with its filled count, and the
    position is the sum of the fills."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        per_order = dict(conn.execute("SELECT order_pk, sum(count) FROM fills GROUP BY order_pk").fetchall())
        for pk, filled in conn.execute("SELECT id, filled_count FROM orders").fetchall():
            assert D(str(per_order.get(pk, 0))) == D(str(filled))
        total = conn.execute("SELECT coalesce(sum(count), 0) FROM fills").fetchone()[0]
        net = conn.execute("SELECT coalesce(sum(net_count), 0) FROM positions").fetchone()[0]
        assert D(str(total)) == D(str(net))


@pytest.fixture
def ledger_file(tmp_path: Path):
    path = tmp_path / "state" / "ledger.sqlite"
    ledger = Ledger.open(f"sqlite:///{path}")
    yield path, ledger
    ledger.close()


class TestBackup:
    def test_a_backup_under_concurrent_writes_is_one_consistent_state(self, ledger_file, tmp_path):
        """Writers book trades while the copy runs (and between its steps): the copy verifies and is
        internally consistent; once writing stops a second copy equals the ledger row for row."""
        path, ledger = ledger_file
        for i in range(200):
            trade(ledger, i)
        stop, counter = threading.Event(), iter(range(200, 100_000))

        def writer() -> None:
            while not stop.is_set():
                trade(ledger, next(counter))

        threads = [threading.Thread(target=writer) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            steps = []
            info = backup_sqlite(path, tmp_path / "b" / "under-load.sqlite", pause=lambda: steps.append(trade(
                ledger, next(counter))))
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert info.ok
        assert info.rows["fills"] >= 200
        consistent(info.path)
        quiet = backup_sqlite(path, tmp_path / "b" / "quiet.sqlite")
        assert rows_of(quiet.path) == rows_of(path)
        assert quiet.rows["fills"] > info.rows["fills"] or not steps  # the first copy was taken mid-stream

    def test_the_file_is_private_and_whole(self, ledger_file, tmp_path):
        path, ledger = ledger_file
        trade(ledger, 1)
        info = backup_sqlite(path, tmp_path / "b" / backup_name(TS))
        assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
        assert sorted(p.name for p in info.path.parent.iterdir()) == ["ledger-20260528T202640Z.sqlite"]

    def test_a_missing_ledger_is_an_error_and_leaves_nothing(self, tmp_path):
        with pytest.raises(LedgerError, match="no ledger"):
            backup_sqlite(tmp_path / "none.sqlite", tmp_path / "b" / "x.sqlite")
        assert not (tmp_path / "b" / "x.sqlite").exists()


class TestVerify:
    def test_garbage_and_truncated_files_are_refused(self, ledger_file, tmp_path):
        path, ledger = ledger_file
        trade(ledger, 1)
        good = backup_sqlite(path, tmp_path / "good.sqlite").path
        junk = tmp_path / "junk.sqlite"
        junk.write_bytes(b"not a database at all" * 100)
        cut = tmp_path / "cut.sqlite"
        cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
        assert verify(good).ok
        for bad in (junk, cut, tmp_path / "absent.sqlite"):
            with pytest.raises(LedgerError):
                verify(bad)
        assert not inspect(junk).ok


class TestPruneAndRestore:
    def test_only_the_newest_backups_are_kept(self, tmp_path):
        for i in range(5):
            (tmp_path / backup_name(TS + i)).write_bytes(b"x")
        gone = prune(tmp_path, 2)
        assert len(gone) == 3
        assert sorted(p.name for p in tmp_path.iterdir()) == [backup_name(TS + 3), backup_name(TS + 4)]

    def test_restore_puts_the_backup_in_place_and_keeps_the_old_ledger(self, ledger_file, tmp_path):
        path, ledger = ledger_file
        trade(ledger, 1)
        backup = backup_sqlite(path, tmp_path / "b.sqlite")
        trade(ledger, 2)  # after the backup: the restore goes back to one trade
        ledger.close()
        info, aside = restore_sqlite(backup.path, path, now=TS)
        assert aside is not None
        assert aside.name == "ledger.sqlite.before-restore-20260528T202640Z"
        assert len(rows_of(aside)["fills"]) == 2
        assert rows_of(path) == rows_of(backup.path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        reopened = Ledger.open(f"sqlite:///{path}")
        try:
            assert [f.trade_id for f in reopened.trades()] == ["t1"]
        finally:
            reopened.close()
        assert info.rows["fills"] == 1

    def test_a_bad_backup_changes_nothing(self, ledger_file, tmp_path):
        path, ledger = ledger_file
        trade(ledger, 1)
        ledger.close()
        before = rows_of(path)
        junk = tmp_path / "junk.sqlite"
        junk.write_bytes(b"junk")
        with pytest.raises(LedgerError):
            restore_sqlite(junk, path)
        assert rows_of(path) == before
