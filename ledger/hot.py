"""Hot-path SQL: hand-written statements on the pooled DB-API connection, with the column codecs inlined.

The order pipeline calls a few ledger methods per order (write the intent, book each fill, move the
status, read the risk view), and with the GIL every millisecond of ledger CPU is throughput lost. Those
methods skip the ORM and SQLAlchemy's statement execution here: plain SQL text, written once per dialect
(``:name`` placeholders become ``%(name)s`` for psycopg), executed on the pool's DB-API connection.

The storage format is exactly what :mod:`ledger.types` writes, so ORM and hot-path rows mix freely:
money is integer micro-units on SQLite (``NUMERIC(18, 6)`` on PostgreSQL) and is still validated by
:func:`ledger.types.to_money` before it is bound (refused, never rounded); timestamps are naive-UTC text
``YYYY-MM-DD HH:MM:SS.ffffff`` on SQLite (``TIMESTAMPTZ`` on PostgreSQL).
"""

# Every statement is built from constant column lists; values are always bound parameters.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from kalshi_guard.ledger.records import OrderRecord, OrderStatus, PositionRecord
from kalshi_guard.ledger.types import QUANTUM, SCALE, to_money

ZERO = Decimal(0)
_STATUS = {s.value: s for s in OrderStatus}

ORDER_COLS = (
    "client_order_id, order_id, ticker, event_ticker, book_side, outcome, action, count, price, "
    "time_in_force, reference_price, intent, batch_id, status, filled_count, fees, "
    "reported_filled_count, remaining_count, reason, created_at, updated_at"
)
POSITION_COLS = (
    "ticker, event_ticker, net_count, cost_basis, realized_pnl, fees, opened_at, closed_at, close_evidence, "
    "updated_at"
)

# Statements; "{lock}" is " FOR UPDATE" on PostgreSQL and empty on SQLite (serialised by BEGIN IMMEDIATE).
STATEMENTS = {
    "order_by_coid": f"SELECT id, {ORDER_COLS} FROM orders WHERE client_order_id = :k{{lock}}",
    "order_by_oid": f"SELECT id, {ORDER_COLS} FROM orders WHERE order_id = :k{{lock}}",
    "read_order_by_coid": f"SELECT {ORDER_COLS} FROM orders WHERE client_order_id = :k",
    "read_order_by_oid": f"SELECT {ORDER_COLS} FROM orders WHERE order_id = :k",
    "insert_order": (
        f"INSERT INTO orders ({ORDER_COLS}) VALUES (:client_order_id, NULL, :ticker, :event_ticker, "
        ":book_side, :outcome, :action, :count, :price, :time_in_force, :reference_price, :intent, :batch_id, "
        ":status, :zero, :zero, NULL, NULL, NULL, :now, :now) ON CONFLICT DO NOTHING RETURNING id"
    ),
    "insert_event": (
        "INSERT INTO order_events (order_pk, from_status, to_status, reason, at) "
        "VALUES (:pk, :from_status, :to_status, :reason, :at)"
    ),
    "transition_order": (
        "UPDATE orders SET order_id = COALESCE(:order_id, order_id), "
        "reported_filled_count = COALESCE(:reported, reported_filled_count), "
        "remaining_count = COALESCE(:remaining, remaining_count), reason = COALESCE(:reason, reason), "
        "status = :status, updated_at = :now WHERE id = :pk"
    ),
    "fill_order": (
        "UPDATE orders SET filled_count = :filled, fees = :fees, order_id = COALESCE(order_id, :order_id), "
        "status = :status, updated_at = :now WHERE id = :pk"
    ),
    "position": f"SELECT {POSITION_COLS} FROM positions WHERE ticker = :k{{lock}}",
    "read_position": f"SELECT {POSITION_COLS} FROM positions WHERE ticker = :k",
    "insert_position": (
        "INSERT INTO positions (ticker, event_ticker, net_count, cost_basis, realized_pnl, fees, updated_at) "
        "VALUES (:ticker, :event_ticker, :zero, :zero, :zero, :zero, :now) ON CONFLICT DO NOTHING RETURNING ticker"
    ),
    "delete_position": "DELETE FROM positions WHERE ticker = :k",
    "update_position": (
        "UPDATE positions SET event_ticker = :event_ticker, net_count = :net, cost_basis = :basis, "
        "realized_pnl = :realized, fees = :fees, opened_at = :opened_at, closed_at = :closed_at, "
        "close_evidence = :close_evidence, updated_at = :now WHERE ticker = :ticker"
    ),
    "insert_fill": (
        "INSERT INTO fills (trade_id, order_pk, client_order_id, order_id, ticker, book_side, count, price, fee, "
        "is_taker, ts, realized_pnl, booked_at) VALUES (:trade_id, :order_pk, :client_order_id, :order_id, "
        ":ticker, :book_side, :count, :price, :fee, :is_taker, :ts, :realized, :now) "
        "ON CONFLICT DO NOTHING RETURNING id"
    ),
    "insert_activity": (
        "INSERT INTO activity_log (at, category, level, message, details) "
        "VALUES (:at, :category, :level, :message, :details)"
    ),
    "open_positions": f"SELECT {POSITION_COLS} FROM positions WHERE net_count <> :zero ORDER BY ticker",
    "all_positions": f"SELECT {POSITION_COLS} FROM positions ORDER BY ticker",
}
_PARAM = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def _sqlite_ts(value: Any) -> float:
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def _pg_ts(value: Any) -> float:
    stamp: datetime = value
    return stamp.timestamp()


def _sqlite_money(value: Any) -> Decimal:
    return Decimal(value).scaleb(-SCALE)


def _pg_money(value: Any) -> Decimal:
    return Decimal(value).quantize(QUANTUM)


class HotSql:
    """One dialect's statements and codecs (``enc_*`` bind a value, ``dec_*`` load one)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        lock = "" if self.sqlite else " FOR UPDATE"
        self.sql: dict[str, str] = {}
        for name, text in STATEMENTS.items():
            text = text.replace("{lock}", lock)
            self.sql[name] = text if self.sqlite else _PARAM.sub(r"%(\1)s", text)
        self.dec_money: Callable[[Any], Decimal] = _sqlite_money if self.sqlite else _pg_money
        self.dec_ts: Callable[[Any], float] = _sqlite_ts if self.sqlite else _pg_ts
        self.zero = self.enc_money(ZERO)

    def sql_for(self, text: str) -> str:
        """A dynamic statement (``:name`` placeholders) in this dialect's parameter style."""
        return text if self.sqlite else _PARAM.sub(r"%(\1)s", text)

    def enc_money(self, value: Decimal) -> Any:
        """Bind a money value; raises ``ValueError`` for an inexact or out-of-range one (never rounds)."""
        d = to_money(value)
        return int(d.scaleb(SCALE)) if self.sqlite else d

    def enc_opt_money(self, value: Decimal | None) -> Any:
        """Bind an optional money value (``None`` stays NULL)."""
        return None if value is None else self.enc_money(value)

    def enc_ts(self, dt: datetime) -> Any:
        """Bind an aware UTC datetime."""
        return dt.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else dt

    def order(self, r: Any, i: int = 0) -> OrderRecord:
        """An order record from a row holding ``ORDER_COLS`` from column ``i`` on."""
        m, opt = self.dec_money, self._opt_money
        return OrderRecord(
            r[i], r[i + 1], r[i + 2], r[i + 3], r[i + 4], r[i + 5], r[i + 6], m(r[i + 7]), m(r[i + 8]), r[i + 9],
            opt(r[i + 10]), r[i + 11], r[i + 12], _STATUS[r[i + 13]], m(r[i + 14]), m(r[i + 15]),
            opt(r[i + 16]), opt(r[i + 17]), r[i + 18], self.dec_ts(r[i + 19]), self.dec_ts(r[i + 20]),
        )

    def _opt_money(self, value: Any) -> Decimal | None:
        return None if value is None else self.dec_money(value)

    def position(self, r: Any) -> PositionRecord:
        """A position record from a row holding ``POSITION_COLS``."""
        m, ts = self.dec_money, self.dec_ts
        return position_record(
            r[0], r[1], m(r[2]), m(r[3]), m(r[4]), m(r[5]),
            None if r[6] is None else ts(r[6]), None if r[7] is None else ts(r[7]), r[8], ts(r[9]),
        )


def position_record(
    ticker: str, event_ticker: str | None, net: Decimal, basis: Decimal, realized: Decimal, fees: Decimal,
    opened_at: float | None, closed_at: float | None, close_evidence: str | None, updated_at: float,
) -> PositionRecord:
    """A position record, with its display average price derived from the basis."""
    avg = (basis / abs(net)).quantize(QUANTUM, ROUND_HALF_EVEN) if net != 0 else ZERO
    return PositionRecord(ticker, event_ticker, net, basis, avg, realized, fees, opened_at, closed_at,
                          close_evidence, updated_at)
