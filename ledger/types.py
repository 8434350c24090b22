"""Column types that keep money exact and timestamps in UTC on SQLite and PostgreSQL alike.

Decision (documented here, relied on everywhere): every money or count column is :class:`Money`, a
``Numeric(18, 6)`` on PostgreSQL (exact there) and a ``BIGINT`` of **micro-units** (value × 10⁶) on SQLite,
where SQLAlchemy's ``Numeric`` would pass through ``float``. Integers keep ``SUM`` and comparisons exact
inside SQLite, unlike a string encoding. Values are returned as ``Decimal`` quantized to 6 places on both
backends, so ``Decimal("10.01")`` reads back as ``Decimal("10.010000")`` (equal, same string everywhere).
A value with more than 6 decimals, a ``float``, NaN/∞ or one beyond ±10¹² is refused, never rounded.

Timestamps are :class:`UTCDateTime` columns: ``TIMESTAMPTZ`` on PostgreSQL, naive-UTC text on SQLite; the
Python side always sees Unix seconds in and aware UTC ``datetime`` out (converted to floats by the records).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SCALE = 6
QUANTUM = Decimal(1).scaleb(-SCALE)  # 0.000001
LIMIT = Decimal(10) ** 12


def to_money(value: object) -> Decimal:
    """Return ``value`` as an exact Decimal with at most 6 decimals.

    Accepts ``Decimal``, ``int`` and numeric ``str``. Raises ``ValueError`` for ``float`` (never exact),
    ``bool``, NaN/∞, more than 6 decimals or a magnitude of 10¹² or more.
    """
    if isinstance(value, (bool, float)):
        raise ValueError(f"money must be Decimal, int or str, not {type(value).__name__}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | str):
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    else:
        raise ValueError(f"money must be Decimal, int or str, not {type(value).__name__}")
    if not d.is_finite():
        raise ValueError(f"money must be finite, got {d}")
    q = d.quantize(QUANTUM)
    if q != d:
        raise ValueError(f"{d} has more than {SCALE} decimals")
    if abs(q) >= LIMIT:
        raise ValueError(f"{d} is out of range (|x| < 10^12)")
    return q


class Money(TypeDecorator[Decimal]):
    """An exact Decimal: ``Numeric(18, 6)`` on PostgreSQL, integer micro-units on SQLite."""

    impl = Numeric(18, SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        d = to_money(value)
        if dialect.name == "sqlite":
            return int(d.scaleb(SCALE))
        return d

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-SCALE).quantize(QUANTUM)
        return Decimal(value).quantize(QUANTUM)


def to_utc(value: float | datetime) -> datetime:
    """Unix seconds or a datetime → aware UTC datetime. A naive datetime is refused (``ValueError``)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime or Unix seconds")
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value), tz=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp; binds Unix seconds or aware datetimes, loads aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        dt = to_utc(value)
        if dialect.name == "sqlite":
            return dt.replace(tzinfo=None)
        return dt

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp: datetime = value
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)


def seconds(dt: datetime | None) -> float | None:
    """An aware datetime as Unix seconds (``None`` stays ``None``)."""
    return None if dt is None else dt.timestamp()
