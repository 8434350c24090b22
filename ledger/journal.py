"""Ledger part: the trade journal — every fill and settlement as a row a trader can keep — and the day report.

One row per fill (``kind = "fill"``) with its order, the outcome and action as the bot gave them, the price on
that outcome (the YES-book price beside it), count, fee, slippage against the order's limit (dollars, positive
= worse for us, as the confirmation reports it) and the realised P&L the fill booked (gross, fees apart); one
row per position closed on evidence (``kind = "settlement"``). A fill of an order the ledger never placed
(an orphan) is shown as a buy of the outcome its book side makes long, with no order and no slippage.
Reads only; ``LedgerError`` on a database failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from kalshi_guard.core.orders import (
    Action,
    BookSide,
    Outcome,
    count_str,
    fee_str,
    outcome_of,
    outcome_price,
    price_str,
)
from kalshi_guard.ledger.schema import ActivityRow, FillRow, OrderRow, SettlementRow
from kalshi_guard.ledger.types import to_utc

ZERO = Decimal(0)
KILL_SWITCH = "KILL_SWITCH"

#: the journal's columns, in order (CSV header and JSON keys): stable across releases
COLUMNS = (
    "at", "kind", "ticker", "client_order_id", "order_id", "trade_id", "outcome", "action", "price",
    "yes_price", "count", "fee", "slippage", "realized_pnl",
)

_FORMAT = {"count": count_str, "price": price_str, "yes_price": price_str}


@dataclass(frozen=True, slots=True)
class JournalRow:
    """One journal row; see the module docstring. ``at`` is UTC."""

    at: datetime
    kind: str
    ticker: str
    client_order_id: str | None
    order_id: str | None
    trade_id: str | None
    outcome: str
    action: str
    price: Decimal | None
    yes_price: Decimal | None
    count: Decimal
    fee: Decimal
    slippage: Decimal | None
    realized_pnl: Decimal

    def as_strings(self) -> dict[str, str]:
        """Every column as a string: counts with 2 decimals, prices 4, money 6 (as on the wire), empty for
        none, ``at`` in ISO 8601."""
        out: dict[str, str] = {}
        for name in COLUMNS:
            value = getattr(self, name)
            if value is None:
                out[name] = ""
            elif isinstance(value, datetime):
                out[name] = value.isoformat()
            elif isinstance(value, Decimal):
                out[name] = _FORMAT.get(name, fee_str)(value)
            else:
                out[name] = str(value)
        return out


@dataclass(frozen=True, slots=True)
class DayReport:
    """A day's trading: P&L gross, fees and net; fills; wins and losses among closing rows; kill switches."""

    day: date
    gross_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    fills: int
    settlements: int
    wins: int
    losses: int
    largest_loss: Decimal
    kill_switch_events: tuple[str, ...]


def _fill_row(f: FillRow, o: OrderRow | None) -> JournalRow:
    side = BookSide(f.book_side)
    if o is not None:
        outcome, action = Outcome(o.outcome), Action(o.action)
    else:
        outcome, action = outcome_of(side), Action.BUY
    price = outcome_price(outcome, f.price)
    slippage = None
    if o is not None:
        limit = outcome_price(outcome, o.price)
        per = price - limit if action is Action.BUY else limit - price
        slippage = per * f.count
    return JournalRow(to_utc(f.ts), "fill", f.ticker, f.client_order_id or (o.client_order_id if o else None),
                      f.order_id, f.trade_id, outcome.value, action.value, price, f.price, f.count, f.fee,
                      slippage, f.realized_pnl)


def _settlement_row(r: SettlementRow) -> JournalRow:
    outcome = Outcome.YES if r.net_count > 0 else Outcome.NO
    price = None if r.exit_price is None else outcome_price(outcome, r.exit_price)
    return JournalRow(to_utc(r.at), "settlement", r.ticker, None, None, None, outcome.value, "settle", price,
                      r.exit_price, abs(r.net_count), ZERO, None, r.realized_pnl)


class JournalMixin:
    """Mixed into :class:`ledger.store.Ledger` (uses its ``_read``)."""

    def trades(self, since: datetime | None = None, until: datetime | None = None) -> list[JournalRow]:
        """Journal rows with ``since <= at < until`` (either open), oldest first (fills before settlements
        at the same instant, then by trade id)."""
        rows: list[JournalRow] = []
        with self._read("trades") as s:  # type: ignore[attr-defined]  # _read is the store's
            q = select(FillRow, OrderRow).outerjoin(OrderRow, FillRow.order_pk == OrderRow.id)
            sq = select(SettlementRow)
            if since is not None:
                q, sq = q.where(FillRow.ts >= since), sq.where(SettlementRow.at >= since)
            if until is not None:
                q, sq = q.where(FillRow.ts < until), sq.where(SettlementRow.at < until)
            rows += [_fill_row(f, o) for f, o in s.execute(q)]
            rows += [_settlement_row(r) for r in s.scalars(sq)]
        rows.sort(key=lambda r: (r.at, r.kind != "fill", r.trade_id or "", r.ticker))
        return rows

    def day_report(self, day: date) -> DayReport:
        """The UTC ``day``'s report from the same rows as :meth:`trades` plus the activity log's kill-switch
        rows. ``wins``/``losses`` count rows that realised P&L (closing fills and settlements), net of fees."""
        start = datetime.combine(day, time(0), tzinfo=UTC)
        end = start + timedelta(days=1)
        rows = self.trades(start, end)
        closing = [r.realized_pnl - r.fee for r in rows if r.realized_pnl != 0]
        with self._read("day_report") as s:  # type: ignore[attr-defined]  # _read is the store's
            kills = tuple(a.message for a in s.scalars(
                select(ActivityRow).where(ActivityRow.category == KILL_SWITCH, ActivityRow.at >= start,
                                          ActivityRow.at < end).order_by(ActivityRow.id)))
        gross = sum((r.realized_pnl for r in rows), ZERO)
        fees = sum((r.fee for r in rows), ZERO)
        return DayReport(day, gross, fees, gross - fees, sum(1 for r in rows if r.kind == "fill"),
                         sum(1 for r in rows if r.kind == "settlement"), sum(1 for p in closing if p > 0),
                         sum(1 for p in closing if p < 0), min((p for p in closing if p < 0), default=ZERO), kills)
