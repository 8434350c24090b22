"""Money limits given as dollars (``"50"``) or as a share of the day-start portfolio value (``"5%"``).

A share is kept as :class:`Share` — a ``Decimal`` subclass holding the fraction (``"5%"`` → ``0.05``) — so
the settings stay plain values; :func:`resolve` turns a limit into dollars against a day anchor. Until an
anchor exists a share resolves to zero dollars: every order that could lose money is refused (fail closed)
rather than trading without the limit the operator asked for.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

DOLLAR_QUANTUM = Decimal("0.000001")
_SHARE = re.compile(r"(?P<num>[0-9]+(?:\.[0-9]+)?)%\Z")


class Share(Decimal):
    """A fraction of the day-start portfolio value (0 < share ≤ 1); ``str`` gives it back as ``"5%"``."""

    __slots__ = ()

    def __str__(self) -> str:
        pct = (Decimal(self) * 100).normalize()
        return f"{pct:f}%"

    def __format__(self, spec: str, _context: object = None) -> str:  # f"{share}" reads "5%" too
        return str(self) if not spec else super().__format__(spec)

    def __repr__(self) -> str:
        return f"Share({str(self)!r})"


def parse_money_or_share(value: object) -> Decimal:
    """``"50"``/``50``/``Decimal`` → dollars; ``"5%"`` → :class:`Share`. Raises ValueError with the reason
    (pydantic turns it into one ``config error:`` line naming the key)."""
    if isinstance(value, Share):
        return value
    if isinstance(value, str) and value.strip().endswith("%"):
        m = _SHARE.fullmatch(value.strip())
        if m is None:
            raise ValueError(f"{value!r} is not a percentage like \"5%\" (a number, then one %)")
        pct = Decimal(m["num"])
        if not 0 < pct <= 100:
            raise ValueError(f"{value!r} must be more than 0% and at most 100%")
        return Share(pct / 100)
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueError(f"{value!r} must be dollars like \"50\" or a share like \"5%\"")
    try:
        dollars = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} must be dollars like \"50\" or a share like \"5%\"") from None
    if not dollars.is_finite() or dollars < 0:
        raise ValueError(f"{value!r} must be a non-negative amount of dollars")
    if dollars != dollars.quantize(DOLLAR_QUANTUM) or dollars >= Decimal(10) ** 8:
        raise ValueError(f"{value!r} must be below 100000000 with at most 6 decimals")
    return dollars


def resolve(limit: Decimal, day_start_value: Decimal | None) -> Decimal:
    """The dollar figure of ``limit``: itself when given in dollars; the share of ``day_start_value`` when a
    share (zero while no anchor is known, so nothing that can lose money passes)."""
    if not isinstance(limit, Share):
        return limit
    if day_start_value is None or day_start_value <= 0:
        return Decimal(0)
    return (Decimal(limit) * day_start_value).quantize(DOLLAR_QUANTUM)


def describe(limit: Decimal, day_start_value: Decimal | None = None) -> str:
    """``"50"``, or ``"5% of the day-start portfolio value (= 12.50)"`` for ``check-config`` and ``status``."""
    if not isinstance(limit, Share):
        return str(limit)
    if day_start_value is None:
        return f"{limit} of the day-start portfolio value (no anchor yet: 0 until one is recorded)"
    return f"{limit} of the day-start portfolio value (= {resolve(limit, day_start_value)})"
