"""Ledger part: the read-only reports the operator's dashboard and ``/metrics`` show.

Recent fills and alerts, today's fees, and counts (orders by status, fills, reconciliation runs, alert
deliveries by outcome). Each method is one short read transaction and raises ``LedgerError`` when the
database cannot be read; none of them writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from kalshi_guard.ledger.engine import LedgerCore
from kalshi_guard.ledger.schema import AlertRow, DeliveryRow, FillRow, OrderRow, ReconciliationRow

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FillView:
    """A booked fill as the operator sees it; ``ts`` is Unix seconds, ``realized_pnl`` gross of the fee."""

    trade_id: str
    client_order_id: str | None
    ticker: str
    book_side: str
    count: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal
    ts: float


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert of the outbox with each channel's delivery state (``{channel: status}``)."""

    id: int
    created_at: float
    severity: str
    title: str
    deliveries: Mapping[str, str]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


class ReportsMixin(LedgerCore):
    """Dashboard and metrics reads of :class:`ledger.store.Ledger`."""

    def recent_fills(self, limit: int = 20) -> list[FillView]:
        """The newest ``limit`` fills by fill time, newest first."""
        q = select(FillRow).order_by(FillRow.ts.desc(), FillRow.id.desc()).limit(max(0, int(limit)))
        with self._read("recent_fills") as s:
            return [FillView(r.trade_id, r.client_order_id, r.ticker, r.book_side, r.count, r.price, r.fee,
                             r.realized_pnl, r.ts.timestamp()) for r in s.scalars(q)]

    def daily_fees(self, day: date) -> Decimal:
        """The fees of the fills of the UTC ``day``."""
        start, end = _day_bounds(day)
        with self._read("daily_fees") as s:
            total = s.scalar(select(func.coalesce(func.sum(FillRow.fee), ZERO))
                             .where(FillRow.ts >= start, FillRow.ts < end))
        return ZERO if total is None else Decimal(total)

    def recent_alerts(self, limit: int = 20) -> list[AlertView]:
        """The newest ``limit`` alerts of the outbox, newest first, with their per-channel delivery state."""
        with self._read("recent_alerts") as s:
            rows = list(s.scalars(select(AlertRow).order_by(AlertRow.id.desc()).limit(max(0, int(limit)))))
            states: dict[int, dict[str, str]] = {r.id: {} for r in rows}
            if rows:
                q = select(DeliveryRow.alert_id, DeliveryRow.channel, DeliveryRow.status).where(
                    DeliveryRow.alert_id.in_(list(states)))
                for alert_id, channel, status in s.execute(q):
                    states[alert_id][channel] = status
        return [AlertView(r.id, r.created_at.timestamp(), r.severity, r.title, states[r.id]) for r in rows]

    def order_status_counts(self) -> dict[str, int]:
        """How many orders the ledger holds in each status (statuses with none are absent)."""
        with self._read("order_status_counts") as s:
            return {st: int(n) for st, n in s.execute(select(OrderRow.status, func.count()).group_by(OrderRow.status))}

    def fill_totals(self) -> tuple[int, Decimal]:
        """(number of booked fills, contracts filled) over the ledger's life."""
        with self._read("fill_totals") as s:
            n, contracts = s.execute(select(func.count(), func.coalesce(func.sum(FillRow.count), ZERO))).one()
        return int(n), Decimal(contracts)

    def reconciliation_counts(self) -> dict[bool, int]:
        """Recorded reconciliation passes by outcome: ``{True: clean, False: not clean}``."""
        with self._read("reconciliation_counts") as s:
            got = {bool(ok): int(n) for ok, n in
                   s.execute(select(ReconciliationRow.ok, func.count()).group_by(ReconciliationRow.ok))}
        return {True: got.get(True, 0), False: got.get(False, 0)}

    def alert_delivery_counts(self) -> dict[tuple[str, str], int]:
        """Alert deliveries by ``(channel, status)`` (PENDING, SENT, FAILED, GIVEN_UP)."""
        with self._read("alert_delivery_counts") as s:
            q = select(DeliveryRow.channel, DeliveryRow.status, func.count()).group_by(
                DeliveryRow.channel, DeliveryRow.status)
            return {(ch, st): int(n) for ch, st, n in s.execute(q)}
