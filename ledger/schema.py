"""The ledger's typed SQLAlchemy 2 schema; bump ``SCHEMA_VERSION`` with every change to it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kalshi_guard.ledger.types import Money, UTCDateTime

SCHEMA_VERSION = 1
ZERO = Decimal(0)


class Base(DeclarativeBase):
    """Declarative base: ``Decimal`` maps to :class:`Money`, ``datetime`` to :class:`UTCDateTime`."""

    type_annotation_map = {Decimal: Money(), datetime: UTCDateTime(), dict[str, Any]: JSON()}


class SchemaVersion(Base):
    """One row per schema version applied to this database."""

    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime]


class GateRow(Base):
    """The persisted trading gate: exactly one row, ``id = 1``."""

    __tablename__ = "gate_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]


class GateHistoryRow(Base):
    """Every gate change ever saved, in order."""

    __tablename__ = "gate_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]
    recorded_at: Mapped[datetime]


class RunRow(Base):
    """One daemon run: ``RUNNING`` until it ends ``CLEAN``; anything else means an unclean shutdown."""

    __tablename__ = "daemon_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ActivityRow(Base):
    """The audit/activity log (kill switch, gate resets, evidence, anomalies)."""

    __tablename__ = "activity_log"
    __table_args__ = (Index("ix_activity_category_id", "category", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    category: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]


class AlertRow(Base):
    """An alert waiting in (or delivered from) the outbox."""

    __tablename__ = "alert_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime]
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[list[str]]] = mapped_column(JSON)
    dedup_key: Mapped[str | None] = mapped_column(String(200), index=True)


class DeliveryRow(Base):
    """Per-channel delivery state of one alert, so one channel's success never hides another's failure."""

    __tablename__ = "alert_delivery"
    __table_args__ = (Index("ix_delivery_due", "channel", "status", "next_attempt_at"),)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert_outbox.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class ReconciliationRow(Base):
    """One reconciliation pass and what it found."""

    __tablename__ = "reconciliation_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    summary: Mapped[dict[str, Any]]


class DailyAnchorRow(Base):
    """The balance at the start of a UTC day (the daily-loss baseline); first writer wins."""

    __tablename__ = "daily_anchor"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    balance: Mapped[Decimal]
    recorded_at: Mapped[datetime]


class OrderRow(Base):
    """An order, written (``INTENT``) before it is sent. Prices are YES-scale; counts in contracts."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    ticker: Mapped[str] = mapped_column(String(128), index=True)
    event_ticker: Mapped[str | None] = mapped_column(String(128), index=True)
    book_side: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(4))
    count: Mapped[Decimal]
    price: Mapped[Decimal]
    time_in_force: Mapped[str] = mapped_column(String(32))
    reference_price: Mapped[Decimal | None]
    intent: Mapped[str] = mapped_column(String(16))
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    filled_count: Mapped[Decimal] = mapped_column(default=ZERO)  # sum of booked fills
    fees: Mapped[Decimal] = mapped_column(default=ZERO)  # sum of booked fill fees
    reported_filled_count: Mapped[Decimal | None]  # as the exchange last reported it
    remaining_count: Mapped[Decimal | None]  # as the exchange last reported it
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OrderEventRow(Base):
    """The audit trail of every order status change."""

    __tablename__ = "order_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class FillRow(Base):
    """An exchange fill, booked exactly once by ``trade_id``. ``price`` is the YES price."""

    __tablename__ = "fills"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trade_id: Mapped[str] = mapped_column(String(128), unique=True)
    order_pk: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ticker: Mapped[str] = mapped_column(String(128), index=True)
    book_side: Mapped[str] = mapped_column(String(3))
    count: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal]
    is_taker: Mapped[bool] = mapped_column(Boolean)
    ts: Mapped[datetime] = mapped_column(index=True)
    realized_pnl: Mapped[Decimal]
    booked_at: Mapped[datetime]


class PositionRow(Base):
    """One signed net position per market: YES contracts positive, NO contracts negative.

    ``cost_basis`` is Σ(YES price × contracts) of the open contracts (always ≥ 0): what was paid for a long
    YES position, or the YES-equivalent received for a long NO one (its NO cost is ``|net| − cost_basis``).
    """

    __tablename__ = "positions"
    ticker: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_ticker: Mapped[str | None] = mapped_column(String(128), index=True)
    net_count: Mapped[Decimal] = mapped_column(default=ZERO)
    cost_basis: Mapped[Decimal] = mapped_column(default=ZERO)
    realized_pnl: Mapped[Decimal] = mapped_column(default=ZERO)
    fees: Mapped[Decimal] = mapped_column(default=ZERO)
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_evidence: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class SettlementRow(Base):
    """A position closed on exchange evidence other than a fill (settlement or confirmed flat)."""

    __tablename__ = "settlements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticker: Mapped[str] = mapped_column(String(128), index=True)
    evidence: Mapped[str] = mapped_column(Text)
    net_count: Mapped[Decimal]
    exit_price: Mapped[Decimal | None]
    realized_pnl: Mapped[Decimal]
    at: Mapped[datetime] = mapped_column(index=True)


class DayAnchorRow(Base):
    """The kill switch's day anchor: what the account was worth when a trading day began (the baseline of
    the daily-loss and portfolio-drop switches); first writer wins. ``day`` names the day in its own time
    zone (``2026-11-30@UTC 00:00``); ``unrealized`` is the open positions' mark at that moment, ``portfolio``
    cash plus positions marked at the bid (None when the exchange could not be read then)."""

    __tablename__ = "day_anchors"
    day: Mapped[str] = mapped_column(String(64), primary_key=True)
    starts_at: Mapped[datetime]
    unrealized: Mapped[Decimal]
    portfolio: Mapped[Decimal | None]
    rebuilt: Mapped[bool] = mapped_column(Boolean, default=False)  # written after the day had begun
    recorded_at: Mapped[datetime]
