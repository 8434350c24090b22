"""Ledger part: write-ahead orders and their lifecycle (docs/architecture.md §6).

Allowed status changes for :meth:`OrdersMixin.transition` (a change to the same status is always allowed
and only updates the reported counts, exchange id and reason)::

    INTENT   → SENT | RESTING | PARTIAL | FILLED | CANCELED | REJECTED | UNKNOWN
               (after a crash, exchange evidence may arrive before SENT was ever written)
    SENT     → RESTING | PARTIAL | FILLED | CANCELED | REJECTED | UNKNOWN
    RESTING  → PARTIAL | FILLED | CANCELED | UNKNOWN        (an accepted order is never REJECTED later)
    UNKNOWN  → RESTING | PARTIAL | FILLED | CANCELED | REJECTED   (only on exchange evidence)
    PARTIAL  → FILLED | CANCELED | UNKNOWN                   (fills never undo: no way back to RESTING)
    FILLED, CANCELED, REJECTED → nothing (final)

Fills move status on their own (:mod:`ledger.positions`), with the real-world cases: a fill after a cancel
request moves RESTING/PARTIAL to PARTIAL/FILLED as usual; a fill on an UNKNOWN order resolves it; a fill on
a CANCELED order is booked and the order **stays CANCELED** (CANCELED → FILLED is never allowed); a fill on
a REJECTED order is booked (the exchange's evidence wins) and logged as an anomaly.

``book_side`` is the authoritative direction bit (``bid`` = long YES, ``ask`` = long NO); ``outcome`` and
``action`` are recorded as given and not cross-checked (the legacy and V2 vocabularies disagree on them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.core.gate import OrderIntent
from kalshi_guard.ledger.activity import ActivityMixin
from kalshi_guard.ledger.hot import ORDER_COLS
from kalshi_guard.ledger.records import OrderRecord, OrderStatus
from kalshi_guard.ledger.schema import OrderEventRow, OrderRow
from kalshi_guard.ledger.types import QUANTUM, to_money

S = OrderStatus
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.INTENT: frozenset({S.SENT, S.RESTING, S.PARTIAL, S.FILLED, S.CANCELED, S.REJECTED, S.UNKNOWN}),
    S.SENT: frozenset({S.RESTING, S.PARTIAL, S.FILLED, S.CANCELED, S.REJECTED, S.UNKNOWN}),
    S.RESTING: frozenset({S.PARTIAL, S.FILLED, S.CANCELED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.RESTING, S.PARTIAL, S.FILLED, S.CANCELED, S.REJECTED}),
    S.PARTIAL: frozenset({S.FILLED, S.CANCELED, S.UNKNOWN}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
}
NON_FINAL = tuple(s for s in OrderStatus if not s.is_final)
ZERO6 = Decimal(0).quantize(QUANTUM)  # how a zero money column reads back
_INTENTS = tuple(i.value for i in OrderIntent)
_DYNAMIC: dict[tuple[str, bool], str] = {}  # orders() statement text per filter shape and dialect


def can_transition(old: OrderStatus, new: OrderStatus) -> bool:
    """Whether :meth:`OrdersMixin.transition` allows ``old → new``."""
    return old is new or new in ALLOWED[old]


def status_after_fill(current: OrderStatus, filled: Decimal, count: Decimal) -> OrderStatus:
    """The status an order takes once ``filled`` of its ``count`` contracts are booked."""
    if current in (S.CANCELED, S.FILLED):
        return current
    return S.FILLED if filled >= count else S.PARTIAL


def to_record(row: OrderRow) -> OrderRecord:
    """An order row as an immutable record."""
    return OrderRecord(
        client_order_id=row.client_order_id,
        order_id=row.order_id,
        ticker=row.ticker,
        event_ticker=row.event_ticker,
        book_side=row.book_side,
        outcome=row.outcome,
        action=row.action,
        count=row.count,
        price=row.price,
        time_in_force=row.time_in_force,
        reference_price=row.reference_price,
        intent=row.intent,
        batch_id=row.batch_id,
        status=OrderStatus(row.status),
        filled_count=row.filled_count,
        fees=row.fees,
        reported_filled_count=row.reported_filled_count,
        remaining_count=row.remaining_count,
        reason=row.reason,
        created_at=row.created_at.timestamp(),
        updated_at=row.updated_at.timestamp(),
    )


COUNT_PLACES = 2  # counts in hundredths of a contract
PRICE_PLACES = 4  # prices up to 4 decimals (fees up to 6, the column scale)


def _money(
    name: str, value: object, *, positive: bool = False, unit: bool = False, places: int = 6
) -> Decimal:
    """Validate a money/count argument; raise ``LedgerError`` (naming the argument) when it is unfit."""
    try:
        d = to_money(value)
    except ValueError as exc:
        raise LedgerError(f"{name}: {exc}") from None
    if d != d.quantize(Decimal(1).scaleb(-places)):
        raise LedgerError(f"{name} allows at most {places} decimals, got {d}")
    if d < 0 or (positive and d == 0):
        raise LedgerError(f"{name} must be {'> 0' if positive else '>= 0'}, got {d}")
    if unit and d > 1:
        raise LedgerError(f"{name} is a YES-scale price in dollars (0..1), got {d}")
    return d


def _choice(name: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise LedgerError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


class OrdersMixin(ActivityMixin):
    """Order methods of :class:`ledger.store.Ledger`."""

    def insert_intent(
        self,
        *,
        client_order_id: str,
        ticker: str,
        event_ticker: str | None,
        book_side: str,
        outcome: str,
        action: str,
        count: Decimal,
        price: Decimal,
        time_in_force: str,
        reference_price: Decimal | None = None,
        intent: str | OrderIntent = OrderIntent.OPENING,
        batch_id: str | None = None,
    ) -> OrderRecord:
        """Write an order in state ``INTENT`` (before anything is sent) and return it.

        Raises ``LedgerError`` (nothing written) on a duplicate ``client_order_id``, an invalid field
        (count ≤ 0, price outside 0..1, unknown side/outcome/action/intent, too many decimals) or a
        database failure. The caller must not send an order whose intent was not written.
        """
        [rec] = self.insert_intents([{
            "client_order_id": client_order_id, "ticker": ticker, "event_ticker": event_ticker,
            "book_side": book_side, "outcome": outcome, "action": action, "count": count, "price": price,
            "time_in_force": time_in_force, "reference_price": reference_price, "intent": intent,
            "batch_id": batch_id,
        }])
        if rec is None:
            raise LedgerError(f"duplicate client_order_id {client_order_id!r}")
        return rec

    def insert_intents(self, intents: Sequence[Mapping[str, Any]]) -> list[OrderRecord | None]:
        """Write several orders in state ``INTENT`` in one transaction (the write-ahead of a batch).

        Each mapping holds :meth:`insert_intent`'s keyword arguments. Returns one entry per order, in
        order: its record, or None when its ``client_order_id`` was used before (that order alone is not
        written). Raises ``LedgerError`` and writes nothing when any order has an invalid field or the
        database fails.
        """
        h = self._hot
        now = self._now()
        at = h.enc_ts(now)
        rows = [self._intent_params(fields, at) for fields in intents]
        pks: list[int | None] = []
        with self._raw_write("insert_intent") as conn:
            cur = conn.cursor()
            for params in rows:
                cur.execute(h.sql["insert_order"], params)
                got = cur.fetchone()
                pks.append(None if got is None else got[0])
                if got is not None:
                    cur.execute(h.sql["insert_event"], {"pk": got[0], "from_status": None,
                                                         "to_status": S.INTENT.value, "reason": "intent written",
                                                         "at": at})
            cur.close()
        ts = now.timestamp()
        return [None if pk is None else OrderRecord(
            p["client_order_id"], None, p["ticker"], p["event_ticker"], p["book_side"], p["outcome"], p["action"],
            p["_count"], p["_price"], p["time_in_force"], p["_ref"], p["intent"], p["batch_id"], S.INTENT, ZERO6,
            ZERO6, None, None, None, ts, ts,
        ) for pk, p in zip(pks, rows, strict=True)]

    def _intent_params(self, f: Mapping[str, Any], at: Any) -> dict[str, Any]:
        """Validated bind parameters of one INTENT row (plus ``_count``/``_price``/``_ref`` for its record).

        Raises ``LedgerError`` naming the unfit field.
        """
        if not f.get("client_order_id") or not f.get("ticker"):
            raise LedgerError("an order needs a client_order_id and a ticker")
        h = self._hot
        count_d = _money("count", f["count"], positive=True, places=COUNT_PLACES)
        price_d = _money("price", f["price"], unit=True, places=PRICE_PLACES)
        ref_in = f.get("reference_price")
        ref = None if ref_in is None else _money("reference_price", ref_in)
        return {
            "client_order_id": f["client_order_id"],
            "ticker": f["ticker"],
            "event_ticker": f.get("event_ticker"),
            "book_side": _choice("book_side", f["book_side"], ("bid", "ask")),
            "outcome": _choice("outcome", f["outcome"], ("yes", "no")),
            "action": _choice("action", f["action"], ("buy", "sell")),
            "time_in_force": f["time_in_force"],
            "intent": _choice("intent", str(f.get("intent", OrderIntent.OPENING)), _INTENTS),
            "batch_id": f.get("batch_id"),
            "status": S.INTENT.value,
            "count": h.enc_money(count_d), "price": h.enc_money(price_d), "reference_price": h.enc_opt_money(ref),
            "zero": h.zero, "now": at, "_count": count_d, "_price": price_d, "_ref": ref,
        }

    def transition(
        self,
        client_order_id: str,
        new_status: OrderStatus,
        *,
        order_id: str | None = None,
        reason: str | None = None,
        filled_count: Decimal | None = None,
        remaining_count: Decimal | None = None,
    ) -> OrderRecord:
        """Move an order to ``new_status`` (see the module table) and return the updated order.

        ``order_id`` records the exchange id (it may be set once, never changed); ``filled_count`` and
        ``remaining_count`` record what the exchange reported (booked fills are counted separately by
        :meth:`book_fill`). Raises ``LedgerError`` (nothing changed) for an unknown order, an illegal
        transition, a conflicting exchange id, a negative count or a database failure.
        """
        new = OrderStatus(new_status)
        reported = None if filled_count is None else _money("filled_count", filled_count)
        remaining = None if remaining_count is None else _money("remaining_count", remaining_count)
        h = self._hot
        now = self._now()
        at = h.enc_ts(now)
        with self._raw_write("transition") as conn:
            cur = conn.cursor()
            cur.execute(h.sql["order_by_coid"], {"k": client_order_id})
            row = cur.fetchone()
            if row is None:
                raise LedgerError(f"no order with client_order_id {client_order_id!r}")
            pk, rec = row[0], h.order(row, 1)
            old = rec.status
            if not can_transition(old, new):
                raise LedgerError(f"illegal order transition {old} → {new} for {client_order_id!r}")
            if order_id is not None and rec.order_id is not None and rec.order_id != order_id:
                raise LedgerError(
                    f"order {client_order_id!r} already has exchange id {rec.order_id!r}, not {order_id!r}"
                )
            cur.execute(h.sql["transition_order"], {
                "order_id": order_id, "reported": h.enc_opt_money(reported), "remaining": h.enc_opt_money(remaining),
                "reason": reason, "status": new.value, "now": at, "pk": pk,
            })
            if new is not old:
                cur.execute(h.sql["insert_event"], {"pk": pk, "from_status": old.value, "to_status": new.value,
                                                     "reason": reason, "at": at})
            cur.close()
        return replace(
            rec,
            order_id=rec.order_id if order_id is None else order_id,
            reported_filled_count=rec.reported_filled_count if reported is None else reported,
            remaining_count=rec.remaining_count if remaining is None else remaining,
            reason=rec.reason if reason is None else reason,
            status=new,
            updated_at=now.timestamp(),
        )

    def get_order(self, client_order_id: str) -> OrderRecord | None:
        """The order with this ``client_order_id``, or ``None``; raises ``LedgerError`` on failure."""
        rows = self._raw_rows("get_order", self._hot.sql["read_order_by_coid"], {"k": client_order_id})
        return self._hot.order(rows[0]) if rows else None

    def get_order_by_exchange_id(self, order_id: str) -> OrderRecord | None:
        """The order with this exchange ``order_id``, or ``None``; raises ``LedgerError`` on failure."""
        rows = self._raw_rows("get_order_by_exchange_id", self._hot.sql["read_order_by_oid"], {"k": order_id})
        return self._hot.order(rows[0]) if rows else None

    def orders(
        self,
        statuses: Iterable[OrderStatus] | None = None,
        *,
        ticker: str | None = None,
        batch_id: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[OrderRecord]:
        """Orders (optionally filtered by status, ticker or batch), oldest first (or newest first); ``limit``
        applies after the ordering. Raises ``LedgerError`` when the database cannot be read.
        """
        where: list[str] = []
        params: dict[str, object] = {}
        if statuses is not None:
            values = sorted({OrderStatus(x).value for x in statuses})
            if not values:
                self._check_open()
                return []
            names = [f"s{i}" for i in range(len(values))]
            where.append(f"status IN ({', '.join(':' + n for n in names)})")
            params.update(zip(names, values, strict=True))
        if ticker is not None:
            where.append("ticker = :ticker")
            params["ticker"] = ticker
        if batch_id is not None:
            where.append("batch_id = :batch_id")
            params["batch_id"] = batch_id
        sql = f"SELECT {ORDER_COLS} FROM orders"  # noqa: S608 (constant columns and bound values only)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = max(0, int(limit))
        key = (sql, self._hot.sqlite)
        text = _DYNAMIC.get(key)
        if text is None:
            text = _DYNAMIC.setdefault(key, self._hot.sql_for(sql))
        dec = self._hot.order
        return [dec(r) for r in self._raw_rows("orders", text, params)]

    def non_final_orders(self) -> list[OrderRecord]:
        """Every order not yet FILLED, CANCELED or REJECTED, oldest first; ``LedgerError`` on failure."""
        return self.orders(NON_FINAL)

    def order_history(self, client_order_id: str) -> list[tuple[OrderStatus | None, OrderStatus, str | None]]:
        """The order's status changes ``(from, to, reason)``, oldest first; ``LedgerError`` on failure."""
        q = (
            select(OrderEventRow)
            .join(OrderRow, OrderRow.id == OrderEventRow.order_pk)
            .where(OrderRow.client_order_id == client_order_id)
            .order_by(OrderEventRow.id)
        )
        with self._read("order_history") as s:
            return [
                (None if e.from_status is None else OrderStatus(e.from_status), OrderStatus(e.to_status), e.reason)
                for e in s.scalars(q)
            ]
