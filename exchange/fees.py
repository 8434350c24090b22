"""Kalshi trading fees (docs/kalshi.md §7.4): quadratic in price, rounded up to $0.0001 per fill.

taker fee = ceil_to_0.0001(0.07 × C × P × (1 − P)); maker fee (only on series that charge makers)
= ceil_to_0.0001(0.0175 × C × P × (1 − P)). C in contracts, P in dollars on the side paid.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

TAKER_RATE = Decimal("0.07")
MAKER_RATE = Decimal("0.0175")
FEE_QUANTUM = Decimal("0.0001")


def trade_fee(count: Decimal, price: Decimal, *, maker: bool = False, maker_fees: bool = False) -> Decimal:
    """The fee of one fill of ``count`` contracts at ``price`` (dollars). Makers pay only if ``maker_fees``.

    Raises ValueError for a price outside [0, 1] or a negative count.
    """
    if not Decimal(0) <= price <= Decimal(1):
        raise ValueError(f"price {price} outside [0, 1]")
    if count < 0:
        raise ValueError(f"negative count {count}")
    if maker and not maker_fees:
        return Decimal("0.0000")
    rate = MAKER_RATE if maker else TAKER_RATE
    return (rate * count * price * (Decimal(1) - price)).quantize(FEE_QUANTUM, rounding=ROUND_CEILING)


def max_taker_fee(count: Decimal, price: Decimal) -> Decimal:
    """Worst-case fee of an order (every contract taken at its limit price)."""
    return trade_fee(count, price)
