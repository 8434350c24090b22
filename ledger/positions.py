"""Ledger part: fills booked exactly once, positions derived from them, realised P&L and exposure.

Position model: one signed net position per market in contracts, YES positive and NO negative (a ``bid``
fill adds, an ``ask`` fill subtracts, so buying NO while long YES reduces the YES position). Prices are
YES prices. **Average cost**: ``cost_basis`` is Σ(YES price × contracts) of the open contracts; a fill that
reduces the position removes ``cost_basis × closed / |net|`` (rounded half-even to 6 dp; the whole basis
when it closes the position, so a round trip is exact) and realises::

    long YES closed by an ask at p:  p × closed − removed basis
    long NO  closed by a bid at p:   removed basis − p × closed

A fill that crosses zero closes the old side and opens the rest at its own price. Realised P&L is gross;
fees accumulate separately (``daily_realized_pnl`` is net of fees). A position closes only on exchange
evidence: a fill that brings it to zero, or :meth:`PositionsMixin.close_position_on_evidence`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from actors.errors import LedgerError
from ledger.activity import insert_for
from ledger.orders import COUNT_PLACES, NON_FINAL, PRICE_PLACES, OrdersMixin, _money, status_after_fill
from ledger.records import BookResult, Exposure, FillRecord, OrderStatus, PositionRecord
from ledger.schema import FillRow, OrderEventRow, OrderRow, PositionRow, SettlementRow
from ledger.types import QUANTUM, to_utc

ZERO = Decimal(0)
ONE = Decimal(1)


def apply_fill(net: Decimal, basis: Decimal, delta: Decimal, price: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Apply a signed fill of ``delta`` contracts at YES ``price``: return ``(net, cost_basis, realized)``."""
    if net == 0 or (net > 0) == (delta > 0):
        return net + delta, basis + price * abs(delta), ZERO
    held = abs(net)
    closed = min(abs(delta), held)
    removed = basis if closed == held else (basis * closed / held).quantize(QUANTUM, ROUND_HALF_EVEN)
    realized = price * closed - removed if net > 0 else removed - price * closed
    rest = abs(delta) - closed
    if rest > 0:  # crossed zero: the remainder opens the other side at this fill's price
        sign = ONE if delta > 0 else -ONE
        return sign * rest, price * rest, realized
    return net + delta, basis - removed, realized


def default_event(ticker: str) -> str:
    """Kalshi's event ticker is the market ticker minus its last ``-`` segment (a fallback only)."""
    return ticker.rsplit("-", 1)[0] if "-" in ticker else ticker


def _position(row: PositionRow) -> PositionRecord:
    net = row.net_count
    avg = (row.cost_basis / abs(net)).quantize(QUANTUM, ROUND_HALF_EVEN) if net != 0 else ZERO
    return PositionRecord(
        ticker=row.ticker,
        event_ticker=row.event_ticker,
        net_count=net,
        cost_basis=row.cost_basis,
        avg_price=avg,
        realized_pnl=row.realized_pnl,
        fees=row.fees,
        opened_at=None if row.opened_at is None else row.opened_at.timestamp(),
        closed_at=None if row.closed_at is None else row.closed_at.timestamp(),
        close_evidence=row.close_evidence,
        updated_at=row.updated_at.timestamp(),
    )


def _flat(ticker: str, now: float) -> PositionRecord:
    return PositionRecord(ticker, None, ZERO, ZERO, ZERO, ZERO, ZERO, None, None, None, now)


class PositionsMixin(OrdersMixin):
    """Fill, position, P&L and exposure methods of :class:`ledger.store.Ledger`."""

    def book_fill(self, fill: FillRecord) -> BookResult:
        """Book an exchange fill exactly once by ``trade_id``, with its order and position, in one transaction.

        A duplicate ``trade_id`` (also when racing another thread or process) returns ``booked=False`` and
        changes nothing. The order is found by ``client_order_id``, else by exchange ``order_id``; a fill
        matching no order is still booked to the position (reconciliation judges orphans). Raises
        ``LedgerError`` (nothing written) for an invalid fill (count ≤ 0, price outside 0..1, negative fee,
        unknown book side) or a database failure.
        """
        if fill.book_side not in ("bid", "ask"):
            raise LedgerError(f"book_side must be bid or ask, got {fill.book_side!r}")
        if not fill.trade_id or not fill.ticker:
            raise LedgerError("a fill needs a trade_id and a ticker")
        count = _money("count", fill.count, positive=True, places=COUNT_PLACES)
        price = _money("price", fill.price, unit=True, places=PRICE_PLACES)
        fee = _money("fee", fill.fee)
        try:
            with self._write("book_fill") as s:
                return self._book(s, fill, count, price, fee)
        except LedgerError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        # A concurrent transaction booked the same trade_id first: report the duplicate.
        with self._read("book_fill") as s:
            if s.scalar(select(FillRow.id).where(FillRow.trade_id == fill.trade_id)) is None:
                raise LedgerError(f"book_fill failed: integrity error on fill {fill.trade_id!r}")
            pos = s.get(PositionRow, fill.ticker)
            order = self._find_order(s, fill, lock=False)
            return BookResult(
                False,
                _flat(fill.ticker, self._now().timestamp()) if pos is None else _position(pos),
                ZERO,
                None if order is None else OrderStatus(order.status),
            )

    def _find_order(self, s: Session, fill: FillRecord, *, lock: bool) -> OrderRow | None:
        for col, val in ((OrderRow.client_order_id, fill.client_order_id), (OrderRow.order_id, fill.order_id)):
            if val:
                q = select(OrderRow).where(col == val)
                row = s.scalars(q.with_for_update() if lock else q).first()
                if row is not None:
                    return row
        return None

    def _book(self, s: Session, fill: FillRecord, count: Decimal, price: Decimal, fee: Decimal) -> BookResult:
        now = self._now()
        order = self._find_order(s, fill, lock=True)  # lock order: order row, then fill, then position
        if s.scalar(select(FillRow.id).where(FillRow.trade_id == fill.trade_id)) is not None:
            pos = s.get(PositionRow, fill.ticker)
            return BookResult(False, _flat(fill.ticker, now.timestamp()) if pos is None else _position(pos), ZERO,
                              None if order is None else OrderStatus(order.status))
        row = FillRow(
            trade_id=fill.trade_id, order_pk=None if order is None else order.id,
            client_order_id=fill.client_order_id or (None if order is None else order.client_order_id),
            order_id=fill.order_id or (None if order is None else order.order_id), ticker=fill.ticker,
            book_side=fill.book_side, count=count, price=price, fee=fee, is_taker=bool(fill.is_taker),
            ts=to_utc(fill.ts), realized_pnl=ZERO, booked_at=now,
        )
        s.add(row)
        s.flush()  # a concurrent duplicate fails here (unique trade_id) and the whole booking rolls back
        event = fill.event_ticker or (None if order is None else order.event_ticker)
        s.execute(
            insert_for(self.dialect, PositionRow)
            .values(ticker=fill.ticker, event_ticker=event, net_count=ZERO, cost_basis=ZERO,
                    realized_pnl=ZERO, fees=ZERO, updated_at=now)
            .on_conflict_do_nothing(index_elements=["ticker"])
        )
        pos = s.scalars(select(PositionRow).where(PositionRow.ticker == fill.ticker).with_for_update()).one()
        delta = count if fill.book_side == "bid" else -count
        was = pos.net_count
        net, basis, realized = apply_fill(was, pos.cost_basis, delta, price)
        pos.net_count, pos.cost_basis = net, basis
        pos.realized_pnl += realized
        pos.fees += fee
        pos.event_ticker = pos.event_ticker or event
        pos.updated_at = now
        if net != 0 and (was == 0 or (was > 0) != (net > 0)):
            pos.opened_at, pos.closed_at, pos.close_evidence = now, None, None
        elif net == 0:
            pos.closed_at, pos.close_evidence = now, f"fill {fill.trade_id}"
        row.realized_pnl = realized
        status = None if order is None else self._fill_order(s, order, fill, count, fee)
        if order is None:
            self._log_in(s, "FILL_UNMATCHED", "WARNING", f"fill {fill.trade_id} matches no local order",
                         {"trade_id": fill.trade_id, "ticker": fill.ticker, "order_id": fill.order_id})
        s.flush()
        return BookResult(True, _position(pos), realized, status)

    def _fill_order(self, s: Session, order: OrderRow, fill: FillRecord, count: Decimal, fee: Decimal) -> OrderStatus:
        old = OrderStatus(order.status)
        order.filled_count += count
        order.fees += fee
        order.updated_at = self._now()
        if fill.order_id and order.order_id is None:
            order.order_id = fill.order_id
        new = status_after_fill(old, order.filled_count, order.count)
        if order.filled_count > order.count:
            self._log_in(s, "OVERFILL", "CRITICAL", f"order {order.client_order_id} filled beyond its size",
                         {"client_order_id": order.client_order_id, "count": order.count,
                          "filled": order.filled_count, "trade_id": fill.trade_id})
        if old is OrderStatus.REJECTED:
            self._log_in(s, "FILL_ON_REJECTED", "CRITICAL", f"fill on rejected order {order.client_order_id}",
                         {"client_order_id": order.client_order_id, "trade_id": fill.trade_id})
        if new is not old:
            order.status = new.value
            s.add(OrderEventRow(order_pk=order.id, from_status=old.value, to_status=new.value,
                                reason=f"fill {fill.trade_id}", at=self._now()))
        return new

    def position(self, ticker: str) -> PositionRecord | None:
        """The position in one market (open or closed), or ``None`` if never traded; ``LedgerError`` on failure."""
        with self._read("position") as s:
            row = s.get(PositionRow, ticker)
            return None if row is None else _position(row)

    def positions(self, open_only: bool = True) -> list[PositionRecord]:
        """Positions by ticker (only open ones by default); raises ``LedgerError`` on failure."""
        q = select(PositionRow).order_by(PositionRow.ticker)
        if open_only:
            q = q.where(PositionRow.net_count != ZERO)
        with self._read("positions") as s:
            return [_position(r) for r in s.scalars(q)]

    def close_position_on_evidence(
        self,
        ticker: str,
        evidence: str,
        details: Mapping[str, Any] | None = None,
        *,
        exit_price: Decimal | None = None,
    ) -> PositionRecord:
        """Close a local position on exchange evidence (a settlement, or the exchange confirmed it flat).

        ``evidence`` (required) and ``details`` go to the activity log (category ``POSITION_CLOSED``) in
        the same transaction. With ``exit_price`` (the YES value paid out, e.g. 1 or 0) the P&L is realised
        against the cost basis; without it none is booked (the basis is written off unrealised, and the log
        says so). Raises ``LedgerError`` (nothing changed) for empty evidence or a database failure.
        """
        if not evidence or not evidence.strip():
            raise LedgerError("closing a position needs exchange evidence")
        price = None if exit_price is None else _money("exit_price", exit_price, unit=True)
        with self._write("close_position_on_evidence") as s:
            now = self._now()
            pos = s.scalars(select(PositionRow).where(PositionRow.ticker == ticker).with_for_update()).first()
            net = ZERO if pos is None else pos.net_count
            basis = ZERO if pos is None else pos.cost_basis
            realized = ZERO
            if price is not None and net != 0:
                realized = price * net - basis if net > 0 else basis - price * abs(net)
            info: dict[str, Any] = {
                "ticker": ticker, "evidence": evidence, "net_count": net, "cost_basis": basis,
                "exit_price": price, "realized_pnl": realized if price is not None else None,
                **(dict(details) if details else {}),
            }
            self._log_in(s, "POSITION_CLOSED", "INFO" if net == 0 or price is not None else "WARNING",
                         f"position {ticker} closed on evidence: {evidence}", info)
            if pos is None:
                return _flat(ticker, now.timestamp())
            if net != 0:
                s.add(SettlementRow(ticker=ticker, evidence=evidence, net_count=net, exit_price=price,
                                    realized_pnl=realized, at=now))
                pos.net_count, pos.cost_basis = ZERO, ZERO
                pos.realized_pnl += realized
                pos.closed_at, pos.close_evidence = now, evidence
                pos.updated_at = now
            s.flush()
            return _position(pos)

    def daily_realized_pnl(self, day: date) -> Decimal:
        """Realised P&L for the UTC ``day``, net of fees: fills (by fill time) plus evidence closes.

        Raises ``LedgerError`` when the database cannot be read.
        """
        start = datetime.combine(day, time(0), tzinfo=UTC)
        end = start + timedelta(days=1)
        with self._read("daily_realized_pnl") as s:
            pnl, fees = s.execute(
                select(func.coalesce(func.sum(FillRow.realized_pnl), ZERO), func.coalesce(func.sum(FillRow.fee), ZERO))
                .where(FillRow.ts >= start, FillRow.ts < end)
            ).one()
            settled = s.scalar(
                select(func.coalesce(func.sum(SettlementRow.realized_pnl), ZERO))
                .where(SettlementRow.at >= start, SettlementRow.at < end)
            )
        return Decimal(pnl) - Decimal(fees) + Decimal(settled)

    def exposure(self) -> Exposure:
        """Worst-case cost of open positions plus every non-final order's unfilled rest, per market/event/total.

        A long YES position counts its cost basis, a long NO one its NO cost; an order counts
        ``(count − booked fills) × price`` for a bid and ``× (1 − price)`` for an ask, whatever its intent,
        with INTENT, SENT, RESTING, PARTIAL and UNKNOWN orders all at full size (fail closed). Markets with no
        known event are grouped by :func:`default_event`. Raises ``LedgerError`` on failure.
        """
        by_market: dict[str, Decimal] = {}
        by_event: dict[str, Decimal] = {}

        def add(ticker: str, event: str | None, amount: Decimal) -> None:
            by_market[ticker] = by_market.get(ticker, ZERO) + amount
            key = event or default_event(ticker)
            by_event[key] = by_event.get(key, ZERO) + amount

        with self._read("exposure") as s:
            for row in s.scalars(select(PositionRow).where(PositionRow.net_count != ZERO)):
                add(row.ticker, row.event_ticker, _position(row).worst_case_cost)
            q = select(OrderRow).where(OrderRow.status.in_([x.value for x in NON_FINAL]))
            for o in s.scalars(q):
                rest = max(o.count - o.filled_count, ZERO)
                add(o.ticker, o.event_ticker, rest * (o.price if o.book_side == "bid" else ONE - o.price))
        total = sum(by_market.values(), ZERO)
        return Exposure(MappingProxyType(by_market), MappingProxyType(by_event), total)
