"""Wire helpers shared by the Kalshi types: fixed-point parsing/formatting, enums, tolerant field reading."""

from __future__ import annotations

import threading
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from loguru import logger

from kalshi_guard.core.errors import Ambiguous
from kalshi_guard.core.orders import BookSide as BookSide  # re-exported: one type for every layer
from kalshi_guard.core.orders import Outcome
from kalshi_guard.core.orders import book_of as book_of
from kalshi_guard.core.orders import outcome_of as outcome_of

OutcomeSide = Outcome  # the wire's name for it (``outcome_side``); one type

PRICE_QUANTUM = Decimal("0.0001")
COUNT_QUANTUM = Decimal("0.01")






class TimeInForce(StrEnum):
    """V2 time in force; GTC plus ``expiration_time`` is good-till-time."""

    FILL_OR_KILL = "fill_or_kill"
    GOOD_TILL_CANCELED = "good_till_canceled"
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"


class OrderStatus(StrEnum):
    """Order status; ``unknown`` comes from the ``user_orders`` stream or stands for values we do not know."""

    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"
    UNKNOWN = "unknown"


class SelfTradePrevention(StrEnum):
    """``taker_at_cross`` cancels the incoming order at the cross; ``maker`` cancels the resting own order."""

    TAKER_AT_CROSS = "taker_at_cross"
    MAKER = "maker"






def to_decimal(value: Any) -> Decimal:
    """A fixed-point wire value as Decimal. Raises ValueError for floats, booleans and garbage."""
    if isinstance(value, bool | float):
        raise ValueError(f"refusing binary float/bool {value!r} as money or count")
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a fixed-point number: {value!r}") from None
        if not d.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return d
    raise ValueError(f"not a fixed-point number: {value!r}")


def fmt_price(value: Decimal) -> str:
    """A price as a 4-dp dollar string ("0.5600"). Raises ValueError outside [0, 1] or off the 0.0001 grid."""
    if not Decimal(0) <= value <= Decimal(1):
        raise ValueError(f"price {value} outside [0, 1]")
    q = value.quantize(PRICE_QUANTUM)
    if q != value:
        raise ValueError(f"price {value} has more than 4 decimals")
    return str(q)


def fmt_count(value: Decimal) -> str:
    """A count as a 2-dp string ("10.00"). Raises ValueError when negative or finer than 0.01."""
    if value < 0:
        raise ValueError(f"negative count {value}")
    q = value.quantize(COUNT_QUANTUM)
    if q != value:
        raise ValueError(f"count {value} has more than 2 decimals")
    return str(q)


_unknown_lock = threading.Lock()
_unknown_seen: set[tuple[str, str]] = set()


def note_unknown(kind: str, data: dict[str, Any], known: frozenset[str]) -> None:
    """Log each field name Kalshi sends that ``kind`` does not know, once per process (then tolerate it)."""
    extra = [k for k in data if k not in known]
    if not extra:
        return
    with _unknown_lock:
        fresh = [k for k in extra if (kind, k) not in _unknown_seen]
        _unknown_seen.update((kind, k) for k in fresh)
    for k in fresh:
        logger.info("kalshi {}: unknown field {!r} tolerated (logged once)", kind, k)


class Fields:
    """Reads one JSON object of type ``kind``; a missing or malformed required field raises ``Ambiguous``.

    ``Ambiguous`` is right for write responses (the request may have landed) and harmless for reads
    (they are retried and then surfaced as "we do not know").
    """

    __slots__ = ("data", "kind")

    def __init__(self, kind: str, data: Any, known: frozenset[str] | None = None) -> None:
        if not isinstance(data, dict):
            raise Ambiguous(f"kalshi {kind}: expected a JSON object, got {type(data).__name__}")
        self.kind = kind
        self.data = data
        if known is not None:
            note_unknown(kind, data, known)

    def _missing(self, name: str, why: str = "missing") -> Ambiguous:
        return Ambiguous(f"kalshi {self.kind}: required field {name!r} {why}", body=_short(self.data))

    def raw(self, name: str) -> Any:
        """The value, required (None counts as missing)."""
        value = self.data.get(name)
        if value is None:
            raise self._missing(name)
        return value

    def s(self, name: str) -> str:
        """A required string."""
        value = self.raw(name)
        if not isinstance(value, str):
            raise self._missing(name, "is not a string")
        return value

    def os(self, name: str, default: str | None = None) -> str | None:
        """An optional string."""
        value = self.data.get(name)
        return value if isinstance(value, str) else default

    def d(self, name: str) -> Decimal:
        """A required fixed-point decimal."""
        try:
            return to_decimal(self.raw(name))
        except ValueError:
            raise self._missing(name, "is not a fixed-point number") from None

    def od(self, name: str) -> Decimal | None:
        """An optional fixed-point decimal (None when absent or null)."""
        if self.data.get(name) is None:
            return None
        return self.d(name)

    def d_any(self, *names: str) -> Decimal:
        """The first present of several names (current name first, then legacy)."""
        for name in names:
            if self.data.get(name) is not None:
                return self.d(name)
        raise self._missing(names[0])

    def i(self, name: str) -> int:
        """A required integer."""
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._missing(name, "is not an integer")
        return value

    def oi(self, name: str) -> int | None:
        """An optional integer."""
        value = self.data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def b(self, name: str, default: bool | None = None) -> bool:
        """A boolean; ``default`` None makes it required."""
        value = self.data.get(name)
        if isinstance(value, bool):
            return value
        if default is None:
            raise self._missing(name, "is not a boolean")
        return default

    def enum(self, name: str, cls: type[StrEnum]) -> Any:
        """A required enum value."""
        value = self.s(name)
        try:
            return cls(value)
        except ValueError:
            raise self._missing(name, f"has unknown value {value!r}") from None

    def lst(self, name: str, required: bool = True) -> list[Any]:
        """A JSON array (absent → [] unless required)."""
        value = self.data.get(name)
        if value is None and not required:
            return []
        if not isinstance(value, list):
            raise self._missing(name, "is not an array")
        return value


def _short(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 500 else text[:500] + "…"
