"""Tests for the activity log, reconciliation runs and the daily anchor."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kalshi_guard.core.errors import LedgerError


class TestActivity:
    def test_append_and_read_newest_first(self, ledger, clock):
        """Rows come back newest first with their time, level, message and JSON details."""
        first = ledger.log_activity("KILL_SWITCH", "CRITICAL", "halted", {"loss": Decimal("12.50"), "n": 3})
        clock.advance(1)
        second = ledger.log_activity("GATE", "INFO", "reset", None)
        rows = ledger.activity()
        assert [r.id for r in rows] == [second, first]
        assert rows[1].details == {"loss": "12.50", "n": 3}
        assert rows[1].at == clock.t - 1
        assert rows[0].details is None

    def test_filter_and_limit(self, ledger):
        """activity() filters by category and honours the limit."""
        for i in range(5):
            ledger.log_activity("A" if i % 2 else "B", "INFO", str(i))
        assert [r.message for r in ledger.activity("A")] == ["3", "1"]
        assert len(ledger.activity(limit=2)) == 2

    def test_rejects_missing_category(self, ledger):
        """An activity row without a category raises LedgerError and nothing is written."""
        with pytest.raises(LedgerError):
            ledger.log_activity("", "INFO", "x")
        assert ledger.activity() == []


class TestReconciliation:
    def test_record_and_last(self, ledger):
        """last_reconciliation returns the most recent pass with its summary."""
        assert ledger.last_reconciliation() is None
        ledger.record_reconciliation(100.0, 101.0, True, {"orders": 0})
        rid = ledger.record_reconciliation(200.0, 202.5, False, {"orphans": ["T1"]})
        last = ledger.last_reconciliation()
        assert last is not None
        assert (last.id, last.started_at, last.finished_at, last.ok) == (rid, 200.0, 202.5, False)
        assert last.summary == {"orphans": ["T1"]}


class TestDailyAnchor:
    def test_first_writer_wins(self, ledger):
        """The first balance recorded for a day stays; a later one is ignored and the stored one returned."""
        day = date(2026, 5, 28)
        assert ledger.daily_anchor(day) is None
        assert ledger.set_daily_anchor(day, Decimal("1000.01")) == Decimal("1000.01")
        assert ledger.set_daily_anchor(day, Decimal("5")) == Decimal("1000.01")
        assert ledger.daily_anchor(day) == Decimal("1000.01")
        assert ledger.daily_anchor(date(2026, 5, 29)) is None

    def test_inexact_balance_refused(self, ledger):
        """A float or over-precise balance is refused and nothing is stored."""
        day = date(2026, 5, 28)
        with pytest.raises(LedgerError):
            ledger.set_daily_anchor(day, 10.5)
        with pytest.raises(LedgerError):
            ledger.set_daily_anchor(day, Decimal("1.0000001"))
        assert ledger.daily_anchor(day) is None
