"""The ledger: SQLAlchemy 2 schema and queries (orders, fills, positions, activity, alerts, gate)."""

from kalshi_guard.ledger.records import (
    ActivityRecord,
    BookResult,
    DeliveryStatus,
    Exposure,
    FillRecord,
    OrderRecord,
    OrderStatus,
    OutboxAlert,
    PositionRecord,
    ReconciliationRecord,
    RunStatus,
)
from kalshi_guard.ledger.schema import SCHEMA_VERSION
from kalshi_guard.ledger.store import Ledger

__all__ = [
    "SCHEMA_VERSION",
    "ActivityRecord",
    "BookResult",
    "DeliveryStatus",
    "Exposure",
    "FillRecord",
    "Ledger",
    "OrderRecord",
    "OrderStatus",
    "OutboxAlert",
    "PositionRecord",
    "ReconciliationRecord",
    "RunStatus",
]
