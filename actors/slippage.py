"""Slippage per fill and per order, in dollars and in cents per contract (positive = worse for us).

Sign convention: every figure is measured in the price of the outcome the bot traded (a YES-book fill
price is converted back first: NO pays 1 − yes). For a **buy**, slippage per contract = fill price −
benchmark (paying more is worse); for a **sell**, benchmark − fill price (receiving less is worse).
Positive numbers are always bad for us, negative ones are price improvement. Against the limit price a
buy can never be positive (the exchange fills at the limit or better), so a positive figure there is a
discrepancy worth an alert. Dollars = per-contract slippage × count (exact); cents per contract of an
order = total dollars ÷ total count × 100, rounded half-even to 0.0001 cent (per fill it is exact).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from kalshi_guard.core.orders import Action, Outcome, fee_str, outcome_price

HUNDRED = Decimal(100)
CENT_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class SlippageFigure:
    """One measurement against one benchmark: total dollars and cents per contract (positive = worse)."""

    dollars: Decimal
    cents_per_contract: Decimal

    def to_json(self) -> dict[str, str]:
        """Decimal strings: dollars at 6 dp, cents per contract at 4 dp."""
        return {
            "dollars": fee_str(self.dollars),
            "cents_per_contract": str(self.cents_per_contract.quantize(CENT_QUANTUM, rounding=ROUND_HALF_EVEN)),
        }


@dataclass(frozen=True, slots=True)
class FillSlippage:
    """Slippage of one fill; ``price`` is the outcome's fill price."""

    count: Decimal
    price: Decimal
    vs_limit: SlippageFigure
    vs_reference: SlippageFigure | None


@dataclass(frozen=True, slots=True)
class OrderSlippage:
    """Slippage of a whole order (sum over its fills) plus the per-fill figures."""

    vs_limit: SlippageFigure
    vs_reference: SlippageFigure | None
    fills: tuple[FillSlippage, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """``{"vs_limit": {...}, "vs_reference": {...}|None}``."""
        return {
            "vs_limit": self.vs_limit.to_json(),
            "vs_reference": None if self.vs_reference is None else self.vs_reference.to_json(),
        }


def per_contract(action: Action, fill_price: Decimal, benchmark: Decimal) -> Decimal:
    """Slippage of one contract in dollars, both prices of the same outcome (positive = worse)."""
    return fill_price - benchmark if action is Action.BUY else benchmark - fill_price


def _figure(action: Action, count: Decimal, price: Decimal, benchmark: Decimal) -> SlippageFigure:
    each = per_contract(action, price, benchmark)
    return SlippageFigure(dollars=each * count, cents_per_contract=each * HUNDRED)


def fill_slippage(
    outcome: Outcome,
    action: Action,
    count: Decimal,
    yes_price: Decimal,
    limit_price: Decimal,
    reference_price: Decimal | None,
) -> FillSlippage:
    """Slippage of one fill given its YES-book price; limit and reference are prices of ``outcome``.

    Raises ValueError for a non-positive count (a fill of nothing has no slippage).
    """
    if count <= 0:
        raise ValueError(f"fill count must be positive, got {count}")
    price = outcome_price(outcome, yes_price)
    return FillSlippage(
        count=count,
        price=price,
        vs_limit=_figure(action, count, price, limit_price),
        vs_reference=None if reference_price is None else _figure(action, count, price, reference_price),
    )


def _total(figures: list[SlippageFigure], total_count: Decimal) -> SlippageFigure:
    dollars = sum((f.dollars for f in figures), Decimal(0))
    cents = (dollars / total_count * HUNDRED).quantize(CENT_QUANTUM, rounding=ROUND_HALF_EVEN)
    return SlippageFigure(dollars=dollars, cents_per_contract=cents)


def order_slippage(
    outcome: Outcome,
    action: Action,
    fills: Iterable[tuple[Decimal, Decimal]],
    limit_price: Decimal,
    reference_price: Decimal | None,
) -> OrderSlippage | None:
    """Slippage of an order from its fills as (count, YES-book price) pairs; None when nothing filled.

    Raises ValueError if any fill count is not positive.
    """
    per_fill = tuple(fill_slippage(outcome, action, c, p, limit_price, reference_price) for c, p in fills)
    if not per_fill:
        return None
    total_count = sum((f.count for f in per_fill), Decimal(0))
    vs_ref = None
    if reference_price is not None:
        vs_ref = _total([f.vs_reference for f in per_fill if f.vs_reference is not None], total_count)
    return OrderSlippage(
        vs_limit=_total([f.vs_limit for f in per_fill], total_count),
        vs_reference=vs_ref,
        fills=per_fill,
    )
