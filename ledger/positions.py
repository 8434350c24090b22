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

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import func, select

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger.engine import _dumps
from kalshi_guard.ledger.hot import position_record
from kalshi_guard.ledger.orders import COUNT_PLACES, NON_FINAL, PRICE_PLACES, OrdersMixin, _money, status_after_fill
from kalshi_guard.ledger.records import BookResult, Exposure, FillRecord, OrderRecord, OrderStatus, PositionRecord
from kalshi_guard.ledger.schema import FillRow, OrderRow, PositionRow, SettlementRow
from kalshi_guard.ledger.types import QUANTUM, to_utc

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


def _opt_ts(h: Any, ts: float | None) -> Any:
    return None if ts is None else h.enc_ts(to_utc(ts))


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
        return self.book_fills([fill])[0]

    def book_fills(self, fills: Sequence[FillRecord]) -> list[BookResult]:
        """Book several fills, in order, in one transaction: each exactly as :meth:`book_fill` would, one
        result per fill. Raises ``LedgerError`` and books none of them when any fill is invalid or the
        database fails."""
        checked = []
        for fill in fills:
            if fill.book_side not in ("bid", "ask"):
                raise LedgerError(f"book_side must be bid or ask, got {fill.book_side!r}")
            if not fill.trade_id or not fill.ticker:
                raise LedgerError("a fill needs a trade_id and a ticker")
            checked.append((fill, _money("count", fill.count, positive=True, places=COUNT_PLACES),
                            _money("price", fill.price, unit=True, places=PRICE_PLACES), _money("fee", fill.fee)))
        with self._raw_write("book_fill") as conn:
            cur = conn.cursor()
            try:
                return [self._book(cur, fill, count, price, fee) for fill, count, price, fee in checked]
            finally:
                cur.close()

    def _book(self, cur: Any, fill: FillRecord, count: Decimal, price: Decimal, fee: Decimal) -> BookResult:
        """The booking; lock order (PostgreSQL): order row, then position row, then the fill's trade_id."""
        h, sql = self._hot, self._hot.sql
        now = self._now()
        at, now_s = h.enc_ts(now), now.timestamp()
        order = None
        for key, val in (("order_by_coid", fill.client_order_id), ("order_by_oid", fill.order_id)):
            if val:
                cur.execute(sql[key], {"k": val})
                row = cur.fetchone()
                if row is not None:
                    order = row[0], h.order(row, 1)
                    break
        rec = None if order is None else order[1]
        event = fill.event_ticker or (None if rec is None else rec.event_ticker)
        cur.execute(sql["position"], {"k": fill.ticker})
        row = cur.fetchone()
        created = False
        if row is None:  # first fill in this market: a zero row to lock (a racing booker may insert it too)
            cur.execute(sql["insert_position"], {"ticker": fill.ticker, "event_ticker": event, "zero": h.zero,
                                                 "now": at})
            created = cur.fetchone() is not None
            cur.execute(sql["position"], {"k": fill.ticker})
            row = cur.fetchone()
        pos = h.position(row)
        delta = count if fill.book_side == "bid" else -count
        was = pos.net_count
        net, basis, realized = apply_fill(was, pos.cost_basis, delta, price)
        cur.execute(sql["insert_fill"], {
            "trade_id": fill.trade_id, "order_pk": None if order is None else order[0],
            "client_order_id": fill.client_order_id or (None if rec is None else rec.client_order_id),
            "order_id": fill.order_id or (None if rec is None else rec.order_id), "ticker": fill.ticker,
            "book_side": fill.book_side, "count": h.enc_money(count), "price": h.enc_money(price),
            "fee": h.enc_money(fee), "is_taker": bool(fill.is_taker), "ts": h.enc_ts(to_utc(fill.ts)),
            "realized": h.enc_money(realized), "now": at,
        })
        if cur.fetchone() is None:  # this trade_id is booked already (perhaps by a racing transaction)
            if created:  # undo the zero row this booking added (the transaction may hold other fills)
                cur.execute(sql["delete_position"], {"k": fill.ticker})
                return BookResult(False, _flat(fill.ticker, now_s), ZERO, None if rec is None else rec.status)
            return BookResult(False, pos, ZERO, None if rec is None else rec.status)
        opened_at, closed_at, evidence = pos.opened_at, pos.closed_at, pos.close_evidence
        if net != 0 and (was == 0 or (was > 0) != (net > 0)):
            opened_at, closed_at, evidence = now_s, None, None
        elif net == 0:
            closed_at, evidence = now_s, f"fill {fill.trade_id}"
        new_pos = position_record(fill.ticker, pos.event_ticker or event, net, basis, pos.realized_pnl + realized,
                                  pos.fees + fee, opened_at, closed_at, evidence, now_s)
        cur.execute(sql["update_position"], {
            "ticker": fill.ticker, "event_ticker": new_pos.event_ticker, "net": h.enc_money(net),
            "basis": h.enc_money(basis), "realized": h.enc_money(new_pos.realized_pnl),
            "fees": h.enc_money(new_pos.fees), "opened_at": _opt_ts(h, opened_at), "closed_at": _opt_ts(h, closed_at),
            "close_evidence": evidence, "now": at,
        })
        status = None
        if order is not None:
            status = self._fill_order(cur, order[0], order[1], fill, count, fee, at)
        else:
            self._log_raw(cur, at, "FILL_UNMATCHED", "WARNING", f"fill {fill.trade_id} matches no local order",
                          {"trade_id": fill.trade_id, "ticker": fill.ticker, "order_id": fill.order_id})
        return BookResult(True, new_pos, realized, status)

    def _fill_order(
        self, cur: Any, pk: int, order: OrderRecord, fill: FillRecord, count: Decimal, fee: Decimal, at: Any
    ) -> OrderStatus:
        h = self._hot
        old = order.status
        filled = order.filled_count + count
        new = status_after_fill(old, filled, order.count)
        cur.execute(h.sql["fill_order"], {"filled": h.enc_money(filled), "fees": h.enc_money(order.fees + fee),
                                          "order_id": fill.order_id or None, "status": new.value, "now": at,
                                          "pk": pk})
        coid = order.client_order_id
        if filled > order.count:
            self._log_raw(cur, at, "OVERFILL", "CRITICAL", f"order {coid} filled beyond its size",
                          {"client_order_id": coid, "count": order.count, "filled": filled,
                           "trade_id": fill.trade_id})
        if old is OrderStatus.REJECTED:
            self._log_raw(cur, at, "FILL_ON_REJECTED", "CRITICAL", f"fill on rejected order {coid}",
                          {"client_order_id": coid, "trade_id": fill.trade_id})
        if new is not old:
            cur.execute(h.sql["insert_event"], {"pk": pk, "from_status": old.value, "to_status": new.value,
                                                "reason": f"fill {fill.trade_id}", "at": at})
        return new

    def _log_raw(self, cur: Any, at: Any, category: str, level: str, message: str, details: Mapping[str, Any]) -> None:
        """Add an activity row inside the hot-path transaction (committed with it)."""
        cur.execute(self._hot.sql["insert_activity"], {"at": at, "category": category, "level": level,
                                                       "message": message, "details": _dumps(dict(details))})

    def position(self, ticker: str) -> PositionRecord | None:
        """The position in one market (open or closed), or ``None`` if never traded; ``LedgerError`` on failure."""
        rows = self._raw_rows("position", self._hot.sql["read_position"], {"k": ticker})
        return self._hot.position(rows[0]) if rows else None

    def positions(self, open_only: bool = True) -> list[PositionRecord]:
        """Positions by ticker (only open ones by default); raises ``LedgerError`` on failure."""
        h = self._hot
        rows = self._raw_rows("positions", h.sql["open_positions" if open_only else "all_positions"],
                              {"zero": h.zero})
        return [h.position(r) for r in rows]

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
        return Decimal(pnl or 0) - Decimal(fees or 0) + Decimal(settled or 0)

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
