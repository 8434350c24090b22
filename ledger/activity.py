"""Ledger part: the activity log, reconciliation runs and the daily balance anchor."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger.engine import LedgerCore
from kalshi_guard.ledger.records import ActivityRecord, ReconciliationRecord
from kalshi_guard.ledger.schema import ActivityRow, DailyAnchorRow, ReconciliationRow
from kalshi_guard.ledger.types import to_money, to_utc


def insert_for(dialect: str, table: Any) -> Any:
    """The dialect's ``INSERT`` construct (it has ``on_conflict_do_nothing``)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _to_record(row: ActivityRow) -> ActivityRecord:
    return ActivityRecord(row.id, row.at.timestamp(), row.category, row.level, row.message, row.details)


class ActivityMixin(LedgerCore):
    """Activity log, reconciliation runs and daily anchor methods of :class:`ledger.store.Ledger`."""

    # -- activity log ------------------------------------------------------------------------------

    def log_activity(
        self, category: str, level: str, message: str, details: Mapping[str, Any] | None = None
    ) -> int:
        """Append one activity row and return its id.

        ``details`` must be JSON-serialisable (Decimals become strings). Raises ``LedgerError`` (nothing
        written) for an empty category or a database failure.
        """
        if not category or not level:
            raise LedgerError("an activity row needs a category and a level")
        with self._write("log_activity") as s:
            row = ActivityRow(
                at=self._now(),
                category=category,
                level=level,
                message=message,
                details=dict(details) if details is not None else None,
            )
            s.add(row)
            s.flush()
            return row.id

    def _log_in(self, s: Any, category: str, level: str, message: str, details: Mapping[str, Any]) -> None:
        """Add an activity row inside an existing transaction (committed with it)."""
        s.add(ActivityRow(at=self._now(), category=category, level=level, message=message, details=dict(details)))

    def activity(
        self, category: str | None = None, limit: int = 100, since: float | datetime | None = None
    ) -> list[ActivityRecord]:
        """The newest ``limit`` activity rows (optionally of one category, at or after ``since``), newest first.

        Raises ``LedgerError`` when the database cannot be read.
        """
        q = select(ActivityRow).order_by(ActivityRow.id.desc()).limit(max(0, int(limit)))
        if category is not None:
            q = q.where(ActivityRow.category == category)
        if since is not None:
            q = q.where(ActivityRow.at >= to_utc(since))
        with self._read("activity") as s:
            return [_to_record(r) for r in s.scalars(q)]

    # -- reconciliation runs -----------------------------------------------------------------------

    def record_reconciliation(
        self, started_at: float | datetime, finished_at: float | datetime, ok: bool, summary: Mapping[str, Any]
    ) -> int:
        """Record one reconciliation pass and return its id.

        Raises ``LedgerError`` (nothing written) when ``summary`` is not JSON-serialisable or the write fails.
        """
        with self._write("record_reconciliation") as s:
            row = ReconciliationRow(
                started_at=to_utc(started_at), finished_at=to_utc(finished_at), ok=bool(ok), summary=dict(summary)
            )
            s.add(row)
            s.flush()
            return row.id

    def last_reconciliation(self) -> ReconciliationRecord | None:
        """The most recent reconciliation pass (by id), or ``None``; raises ``LedgerError`` on failure."""
        with self._read("last_reconciliation") as s:
            row = s.scalars(select(ReconciliationRow).order_by(ReconciliationRow.id.desc()).limit(1)).first()
            if row is None:
                return None
            return ReconciliationRecord(
                row.id, row.started_at.timestamp(), row.finished_at.timestamp(), row.ok, row.summary
            )

    def failed_reconciliations(self) -> int:
        """How many recorded reconciliation passes were not clean; ``LedgerError`` on failure."""
        with self._read("failed_reconciliations") as s:
            return int(s.scalar(select(func.count()).select_from(ReconciliationRow)
                                .where(ReconciliationRow.ok.is_(False))) or 0)

    # -- daily anchor ------------------------------------------------------------------------------

    def daily_anchor(self, day: date) -> Decimal | None:
        """The start-of-day balance recorded for the UTC ``day``, or ``None``; ``LedgerError`` on failure."""
        with self._read("daily_anchor") as s:
            row = s.get(DailyAnchorRow, day)
            return None if row is None else row.balance

    def set_daily_anchor(self, day: date, balance: Decimal) -> Decimal:
        """Record the start-of-day balance unless one exists (first writer wins); return the stored one.

        Raises ``LedgerError`` (nothing written) for a non-exact balance or a database failure.
        """
        try:
            value = to_money(balance)
        except ValueError as exc:
            raise LedgerError(f"set_daily_anchor: {exc}") from None
        with self._write("set_daily_anchor") as s:
            stmt = insert_for(self.dialect, DailyAnchorRow).values(
                day=day, balance=value, recorded_at=self._now()
            )
            s.execute(stmt.on_conflict_do_nothing(index_elements=["day"]))
            stored = s.scalars(select(DailyAnchorRow.balance).where(DailyAnchorRow.day == day)).one()
            return stored
