"""Tests for opening the ledger, schema versioning, the persisted gate and daemon runs."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.core.gate import GateSnapshot, GateState, TradingGate
from kalshi_guard.ledger import SCHEMA_VERSION, Ledger
from kalshi_guard.ledger.engine import parse_url


class TestFileMode:
    def test_sqlite_files_are_created_0600_whatever_the_umask(self, tmp_path: Path) -> None:
        """Under a permissive umask the database and its -wal/-shm are still 0600 (owner only)."""
        old = os.umask(0o022)
        try:
            led = Ledger.open(f"sqlite:///{tmp_path / 'l' / 'ledger.sqlite'}")
            led.log_activity("TEST", "INFO", "a write creates the WAL", {})
            try:
                for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
                    mode = (tmp_path / "l" / name).stat().st_mode & 0o777
                    assert mode == 0o600, (name, oct(mode))
            finally:
                led.close()
        finally:
            os.umask(old)

    def test_an_existing_open_file_is_narrowed(self, tmp_path: Path) -> None:
        """A ledger an older version created 0644 is 0600 after the next open."""
        path = tmp_path / "ledger.sqlite"
        Ledger.open(f"sqlite:///{path}").close()
        path.chmod(0o644)
        Ledger.open(f"sqlite:///{path}").close()
        assert path.stat().st_mode & 0o777 == 0o600


class TestOpen:
    def test_creates_parent_directories_and_schema(self, ledger, ledger_url):
        """Opening a new ledger creates the schema and records the code's schema version."""
        assert ledger.schema_version() == SCHEMA_VERSION
        if ledger.dialect == "sqlite":
            assert Path(sa.make_url(ledger_url).database).is_file()

    def test_open_is_idempotent(self, open_ledger):
        """Opening the same database again keeps its data and records the version only once."""
        first = open_ledger()
        first.log_activity("TEST", "INFO", "kept")
        first.close()
        second = open_ledger()
        assert [a.message for a in second.activity()] == ["kept"]
        assert second.schema_version() == SCHEMA_VERSION
        with second._read("count") as s:
            assert s.scalar(sa.text("SELECT count(*) FROM schema_version")) == 1

    def test_refuses_newer_schema(self, open_ledger, ledger_url):
        """A database whose recorded schema version is newer than the code's is refused with LedgerError."""
        led = open_ledger()
        with led._write("bump") as s:
            s.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :t)"),
                      {"v": SCHEMA_VERSION + 1, "t": "2026-01-01 00:00:00"})
        led.close()
        with pytest.raises(LedgerError, match="newer"):
            Ledger.open(ledger_url)

    def test_sqlite_pragmas(self, ledger_url, clock):
        """SQLite asked for synchronous=FULL runs in WAL mode with it, foreign keys and a busy timeout."""
        if not ledger_url.startswith("sqlite"):
            pytest.skip("SQLite pragmas only")
        ledger = Ledger.open(ledger_url, clock=clock, synchronous="FULL")
        try:
            with ledger._engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
        finally:
            ledger.close()

    def test_sqlite_synchronous_default_normal(self, ledger):
        """SQLite defaults to synchronous=NORMAL in WAL mode; any other setting is refused."""
        if ledger.dialect != "sqlite":
            pytest.skip("SQLite pragmas only")
        with ledger._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        with pytest.raises(LedgerError, match="synchronous"):
            Ledger.open("sqlite:///" + str(ledger._engine.url.database), synchronous="OFF")

    def test_closed_ledger_refuses(self, ledger):
        """Every call after close() raises LedgerError."""
        ledger.close()
        with pytest.raises(LedgerError, match="closed"):
            ledger.activity()

    def test_bad_urls(self):
        """Memory databases and foreign backends are refused; postgresql:// means psycopg 3."""
        with pytest.raises(LedgerError):
            Ledger.open("sqlite://")
        with pytest.raises(LedgerError, match="unsupported"):
            Ledger.open("mysql://u@h/db")
        assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"

    def test_unreachable_database_raises_without_secrets(self):
        """A database that does not answer raises LedgerError whose message holds no password."""
        with pytest.raises(LedgerError) as info:
            Ledger.open("postgresql+psycopg://u:s3cretpw@127.0.0.1:1/db?connect_timeout=2")
        assert "s3cretpw" not in str(info.value)


class TestGate:
    def test_none_before_first_save(self, ledger):
        """A new ledger has no persisted gate."""
        assert ledger.load_gate() is None

    def test_round_trip_and_history(self, ledger):
        """save_gate persists state, reason, source and time, and appends each save to the history."""
        a = GateSnapshot(GateState.ACTIVE, "start-up complete", "supervisor", 1000.5)
        b = GateSnapshot(GateState.HALTED, "emergency stop", "signal", 1001.25)
        ledger.save_gate(a)
        ledger.save_gate(b)
        assert ledger.load_gate() == b
        assert ledger.gate_history() == [b, a]

    def test_halted_latched_across_reopen(self, open_ledger, clock):
        """A gate closed through TradingGate's persist callback is HALTED after reopening."""
        led = open_ledger()
        gate = TradingGate(persist=led.save_gate, clock=clock)
        gate.mark_ready()
        gate.close("daily loss", "guardian")
        led.close()
        again = open_ledger().load_gate()
        assert again is not None
        assert (again.state, again.reason, again.source) == (GateState.HALTED, "daily loss", "guardian")
        restored = TradingGate(initial=again)
        assert restored.state is GateState.HALTED
        assert restored.mark_ready().state is GateState.HALTED

    def test_reset_lifts_latch(self, ledger, clock):
        """An explicit reset with a reason is persisted as ACTIVE."""
        gate = TradingGate(persist=ledger.save_gate, clock=clock)
        gate.close("x", "guardian")
        clock.advance(5)
        gate.reset("operator checked positions", "cli")
        snap = ledger.load_gate()
        assert snap is not None
        assert (snap.state, snap.reason) == (GateState.ACTIVE, "operator checked positions")

    def test_stale_save_cannot_unlatch(self, ledger):
        """A late non-HALTED save older than the stored HALTED one is only recorded in the history."""
        halted = GateSnapshot(GateState.HALTED, "stop", "signal", 2000.0)
        late = GateSnapshot(GateState.REDUCING, "old", "guardian", 1999.0)
        ledger.save_gate(halted)
        ledger.save_gate(late)
        assert ledger.load_gate() == halted
        assert ledger.gate_history()[0] == late

    def test_concurrent_saves(self, ledger):
        """Saves from several threads all land in the history and leave one gate row."""
        snaps = [GateSnapshot(GateState.HALTED, f"r{i}", "t", 3000.0 + i) for i in range(8)]
        barrier = threading.Barrier(len(snaps))
        errors: list[BaseException] = []

        def run(snap: GateSnapshot) -> None:
            try:
                barrier.wait(timeout=10)
                ledger.save_gate(snap)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in snaps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert errors == []
        assert len(ledger.gate_history()) == len(snaps)
        assert ledger.load_gate() in snaps


class TestRuns:
    def test_first_boot_is_clean(self, ledger):
        """With no earlier run, the previous run is not unclean."""
        assert ledger.previous_run_unclean() is False
        ledger.begin_run(os.getpid())
        assert ledger.previous_run_unclean() is False

    def test_run_never_ended_is_unclean(self, open_ledger):
        """A run that never called end_run makes the next start see an unclean shutdown."""
        first = open_ledger()
        first.begin_run(111)
        first.close()
        second = open_ledger()
        assert second.previous_run_unclean() is True
        second.begin_run(222)
        assert second.previous_run_unclean() is True

    def test_clean_end_is_clean(self, open_ledger):
        """A run ended with clean=True leaves the next start clean."""
        first = open_ledger()
        first.begin_run(111)
        first.end_run(clean=True)
        first.close()
        second = open_ledger()
        second.begin_run(222)
        assert second.previous_run_unclean() is False

    def test_unclean_end_is_unclean(self, open_ledger):
        """A run ended with clean=False (an escalation) is reported unclean."""
        first = open_ledger()
        first.begin_run(111)
        first.end_run(clean=False)
        assert open_ledger().previous_run_unclean() is True

    def test_misuse_raises(self, ledger):
        """end_run before begin_run and a second begin_run raise LedgerError."""
        with pytest.raises(LedgerError):
            ledger.end_run(clean=True)
        ledger.begin_run(1)
        with pytest.raises(LedgerError):
            ledger.begin_run(1)
