"""Ledger part: what reconciliation reads in bulk and the evidence it books (settlements, adopted orders).

A settlement is booked once, keyed by its ``evidence`` (``settlement:<ticker>:<settled_time>``): a
:class:`ledger.schema.SettlementRow` dated at the settlement time with the realised P&L, the position closed
and its P&L carried, in one transaction. ``daily_realized_pnl`` therefore counts it on the day it settled.
An adopted order (on the exchange, unknown here: placed by another program with the same key) is written
with its exchange state and ``batch_id`` :data:`ADOPTED`, so later fills on it are known not to be ours.
Every method raises ``LedgerError`` (nothing written) on failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger.activity import ActivityMixin
from kalshi_guard.ledger.records import OrderStatus, ReconciliationRecord
from kalshi_guard.ledger.schema import FillRow, OrderEventRow, OrderRow, PositionRow, ReconciliationRow, SettlementRow
from kalshi_guard.ledger.types import to_utc

ADOPTED = "adopted:reconciler"  # batch_id of orders adopted from the exchange
ZERO = Decimal(0)
_CHUNK = 500


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    """The distinct values in chunks of at most ``_CHUNK``, each padded (by repeating its last value, which
    changes no ``IN``) to a power of two: an ``IN`` of every length would be a new statement each time, and
    the SQLite driver caches up to 128 prepared statements per connection, large ones included: memory that
    grew with every reconciliation pass."""
    items = sorted({v for v in values if v})
    for i in range(0, len(items), _CHUNK):
        chunk = items[i:i + _CHUNK]
        size = 8
        while size < len(chunk):
            size *= 2
        yield chunk + [chunk[-1]] * (min(size, _CHUNK) - len(chunk))


@dataclass(frozen=True, slots=True)
class KnownOrder:
    """A ledger order as reconciliation needs it: whose it is and what it is."""

    client_order_id: str
    order_id: str | None
    adopted: bool
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class SettlementBooked:
    """What :meth:`ReconcileMixin.book_settlement` did: ``booked`` False when the key was booked already."""

    booked: bool
    net_count: Decimal  # the ledger's position when it was closed
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class LedgerTotals:
    """Sums over every position: realised P&L (settlements included), fees, and the cost of what is open."""

    realized_pnl: Decimal
    fees: Decimal
    open_cost: Decimal


class ReconcileMixin(ActivityMixin):
    """Reconciliation methods of :class:`ledger.store.Ledger`."""

    def booked_trade_ids(self, trade_ids: Iterable[str]) -> set[str]:
        """Which of ``trade_ids`` are booked already."""
        out: set[str] = set()
        with self._read("booked_trade_ids") as s:
            for chunk in _chunks(trade_ids):
                out.update(s.scalars(select(FillRow.trade_id).where(FillRow.trade_id.in_(chunk))))
        return out

    def known_orders(self, order_ids: Iterable[str], client_order_ids: Iterable[str]) -> dict[str, KnownOrder]:
        """Ledger orders matching any exchange ``order_id`` or ``client_order_id``, keyed by each id found."""
        out: dict[str, KnownOrder] = {}
        cols = (OrderRow.client_order_id, OrderRow.order_id, OrderRow.batch_id, OrderRow.status)
        with self._read("known_orders") as s:
            for column, ids in ((OrderRow.order_id, order_ids), (OrderRow.client_order_id, client_order_ids)):
                for chunk in _chunks(ids):
                    for coid, oid, batch, status in s.execute(select(*cols).where(column.in_(chunk))):
                        known = KnownOrder(coid, oid, batch == ADOPTED, OrderStatus(status))
                        out[coid] = known
                        if oid:
                            out[oid] = known
        return out

    def open_adopted_orders(self) -> list[tuple[str, str, str]]:
        """``(client_order_id, order_id, ticker)`` of adopted orders not final yet (the reconciler follows
        them to their end on the exchange)."""
        final = [x.value for x in OrderStatus if x.is_final]
        with self._read("open_adopted_orders") as s:
            rows = s.execute(select(OrderRow.client_order_id, OrderRow.order_id, OrderRow.ticker)
                             .where(OrderRow.batch_id == ADOPTED, OrderRow.status.not_in(final)))
            return [(coid, oid, ticker) for coid, oid, ticker in rows if oid]

    def booked_settlements(self, keys: Iterable[str]) -> set[str]:
        """Which settlement evidence keys are booked already."""
        out: set[str] = set()
        with self._read("booked_settlements") as s:
            for chunk in _chunks(keys):
                out.update(s.scalars(select(SettlementRow.evidence).where(SettlementRow.evidence.in_(chunk))))
        return out

    def totals(self) -> LedgerTotals:
        """Realised P&L, fees and open cost summed over every position."""
        with self._read("totals") as s:
            realized, fees = s.execute(select(func.coalesce(func.sum(PositionRow.realized_pnl), ZERO),
                                              func.coalesce(func.sum(PositionRow.fees), ZERO))).one()
            cost = ZERO
            for net, basis in s.execute(select(PositionRow.net_count, PositionRow.cost_basis)
                                        .where(PositionRow.net_count != ZERO)):
                cost += basis if net > 0 else -net - basis
        return LedgerTotals(Decimal(realized or 0), Decimal(fees or 0), cost)

    def adopt_order(self, *, order_id: str, client_order_id: str, ticker: str, book_side: str, price: Decimal,
                    count: Decimal, filled: Decimal, remaining: Decimal, detail: dict[str, Any]) -> str:
        """Write an exchange order unknown here (an orphan) with its exchange state; return its client id.

        Its status is RESTING (PARTIAL once something filled); fills are booked separately. An empty or
        already used ``client_order_id`` is replaced by ``adopted-<order_id>``.
        """
        if book_side not in ("bid", "ask"):
            raise LedgerError(f"book_side must be bid or ask, got {book_side!r}")
        with self._write("adopt_order") as s:
            taken = client_order_id and s.scalar(select(OrderRow.id).where(OrderRow.client_order_id == client_order_id))
            coid = client_order_id if client_order_id and not taken else f"adopted-{order_id}"
            now = self._now()
            status = OrderStatus.PARTIAL if filled > 0 else OrderStatus.RESTING
            row = OrderRow(client_order_id=coid, order_id=order_id, ticker=ticker, event_ticker=None,
                           book_side=book_side, outcome="yes" if book_side == "bid" else "no", action="buy",
                           count=count, price=price, time_in_force="good_till_canceled", reference_price=None,
                           intent="opening", batch_id=ADOPTED, status=status.value, filled_count=ZERO, fees=ZERO,
                           reported_filled_count=filled, remaining_count=remaining,
                           reason="adopted: orphan order found by reconciliation", created_at=now, updated_at=now)
            s.add(row)
            s.flush()
            s.add(OrderEventRow(order_pk=row.id, from_status=None, to_status=status.value,
                                reason="adopted by reconciliation", at=now))
            self._log_in(s, "ORPHAN_ORDER", "CRITICAL", f"orphaned order {order_id} adopted", detail)
            return coid

    def book_settlement(self, *, key: str, ticker: str, result: str, revenue: Decimal, fee: Decimal,
                        settled_ts: float, value: Decimal | None, detail: dict[str, Any]) -> SettlementBooked:
        """Book one settlement exactly once by ``key``: close the position at the settlement value and
        realise its P&L (net of the settlement fee). ``result`` yes/no pays 1/0 per YES contract, scalar
        pays ``value``; void (or an unknown result) refunds at cost, realising nothing."""
        exit_price: Decimal | None = {"yes": Decimal(1), "no": ZERO}.get(result)
        if result == "scalar" and value is not None:
            exit_price = value
        with self._write("book_settlement") as s:
            if s.scalar(select(SettlementRow.id).where(SettlementRow.evidence == key)) is not None:
                return SettlementBooked(False, ZERO, ZERO)
            pos = s.scalars(select(PositionRow).where(PositionRow.ticker == ticker).with_for_update()).first()
            net = ZERO if pos is None else pos.net_count
            basis = ZERO if pos is None else pos.cost_basis
            realized = ZERO
            if exit_price is not None and net != 0:
                realized = exit_price * net - basis if net > 0 else basis - exit_price * abs(net)
            realized -= fee
            at = to_utc(settled_ts)
            s.add(SettlementRow(ticker=ticker, evidence=key, net_count=net, exit_price=exit_price,
                                realized_pnl=realized, at=at))
            if pos is not None:
                now = self._now()
                pos.net_count, pos.cost_basis = ZERO, ZERO
                pos.realized_pnl += realized
                if net != 0:
                    pos.closed_at, pos.close_evidence = now, key
                pos.updated_at = now
            self._log_in(s, "SETTLEMENT", "INFO", f"settlement of {ticker} booked ({result})",
                         {**detail, "ledger_net": net, "realized_pnl": realized, "revenue": revenue})
            return SettlementBooked(True, net, realized)

    def last_complete_reconciliation(self, scan: int = 20) -> ReconciliationRecord | None:
        """The newest pass that read the exchange completely (its summary holds a ``watermark``) among the
        last ``scan`` runs, or None (the caller then reads everything again)."""
        with self._read("last_complete_reconciliation") as s:
            for row in s.scalars(select(ReconciliationRow).order_by(ReconciliationRow.id.desc()).limit(scan)):
                if isinstance(row.summary, dict) and "watermark" in row.summary:
                    return ReconciliationRecord(row.id, row.started_at.timestamp(), row.finished_at.timestamp(),
                                                row.ok, row.summary)
        return None
