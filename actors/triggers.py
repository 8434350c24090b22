"""The six kill-switch triggers: each reading carries its reason code, config key, current value, limit and
distance (limit − value; a trigger trips when its value reaches its limit, i.e. at distance ≤ 0).

=================  ==================================  =====================================================
code               config key                          value
=================  ==================================  =====================================================
DAILY_LOSS         limits.max_daily_loss               today's loss (−total P&L, at least 0), dollars
LOSING_STREAK      limits.max_consecutive_losses       losing round trips in a row
API_ERROR_RATE     limits.max_api_error_rate           failed / all exchange calls in the window (0 below
                                                       ``limits.api_error_min_calls`` calls)
ORPHAN             guardian.orphan_action              orphans / position mismatches reported (limit 1)
MANUAL             guardian.manual_action              operator stops (limit 1)
PORTFOLIO_DROP     limits.max_balance_drop             (anchor − now) / anchor of cash + positions at the bid
=================  ==================================  =====================================================

:func:`guarded` turns an exception while evaluating a trigger into a tripped reading (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

ZERO = Decimal(0)
ONE = Decimal(1)


class TriggerCode(StrEnum):
    """The reason code of each trigger (also the ``code`` of its stop)."""

    DAILY_LOSS = "DAILY_LOSS"
    LOSING_STREAK = "LOSING_STREAK"
    API_ERROR_RATE = "API_ERROR_RATE"
    ORPHAN = "ORPHAN"
    MANUAL = "MANUAL"
    PORTFOLIO_DROP = "PORTFOLIO_DROP"

    @property
    def config_key(self) -> str:
        """The setting that holds its limit."""
        return CONFIG_KEYS[self]

    @property
    def action_key(self) -> str:
        """Its action's field in ``guardian`` (``daily_loss_action``, …)."""
        return f"{self.value.lower()}_action"


CONFIG_KEYS = {
    TriggerCode.DAILY_LOSS: "limits.max_daily_loss",
    TriggerCode.LOSING_STREAK: "limits.max_consecutive_losses",
    TriggerCode.API_ERROR_RATE: "limits.max_api_error_rate",
    TriggerCode.ORPHAN: "guardian.orphan_action",
    TriggerCode.MANUAL: "guardian.manual_action",
    TriggerCode.PORTFOLIO_DROP: "limits.max_balance_drop",
}


@dataclass(frozen=True, slots=True)
class Reading:
    """One trigger as last evaluated. ``error`` is set when its evaluation raised (it then counts as tripped)."""

    code: TriggerCode
    value: Decimal
    limit: Decimal
    action: str
    detail: str
    at: float
    error: str | None = None

    @property
    def distance(self) -> Decimal:
        """How far the value is from the limit (≤ 0: tripped)."""
        return self.limit - self.value

    @property
    def tripped(self) -> bool:
        """At or past the limit, or the evaluation failed."""
        return self.error is not None or self.value >= self.limit

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, money as fixed-point strings."""
        return {"code": self.code.value, "config_key": self.code.config_key, "value": str(self.value),
                "limit": str(self.limit), "distance": str(self.distance), "tripped": self.tripped,
                "action": self.action, "detail": self.detail, "evaluated_at": self.at, "error": self.error}


def daily_loss(total_pnl: Decimal, limit: Decimal, action: str, at: float, detail: str = "") -> Reading:
    """Today's loss against ``limits.max_daily_loss``."""
    loss = max(ZERO, -total_pnl).quantize(Decimal("0.000001"))
    return Reading(TriggerCode.DAILY_LOSS, loss, limit, action, detail or f"total P&L today {total_pnl}", at)


def losing_streak(streak: int, limit: int, action: str, at: float, last: Decimal | None = None) -> Reading:
    """Losing round trips in a row against ``limits.max_consecutive_losses``."""
    detail = f"{streak} losing round trips in a row" + ("" if last is None else f" (last {last})")
    return Reading(TriggerCode.LOSING_STREAK, Decimal(streak), Decimal(limit), action, detail, at)


def api_error_rate(calls: int, failures: int, limit: Decimal, min_calls: int, window_s: float, action: str,
                   at: float) -> Reading:
    """Failed exchange calls over all calls in the window; 0 until the minimum sample is reached."""
    rate = Decimal(failures) / Decimal(calls) if calls >= min_calls and calls > 0 else ZERO
    detail = f"{failures}/{calls} exchange calls failed in {window_s:g}s (minimum sample {min_calls})"
    return Reading(TriggerCode.API_ERROR_RATE, rate.quantize(Decimal("0.0001")), limit, action, detail, at)


def counted(code: TriggerCode, count: int, action: str, at: float, detail: str) -> Reading:
    """A trigger that trips on the first occurrence (ORPHAN, MANUAL)."""
    return Reading(code, Decimal(count), ONE, action, detail, at)


def portfolio_drop(anchor: Decimal | None, now: Decimal | None, limit: Decimal, action: str, at: float) -> Reading:
    """How far cash + positions at the bid fell below the day anchor, as a fraction of the anchor."""
    if anchor is None or now is None or anchor <= 0:
        return Reading(TriggerCode.PORTFOLIO_DROP, ZERO, limit, action, "no portfolio reading yet", at)
    drop = max(ZERO, (anchor - now) / anchor).quantize(Decimal("0.000001"))
    return Reading(TriggerCode.PORTFOLIO_DROP, drop, limit, action, f"portfolio {now} against the day anchor {anchor}",
                   at)


def guarded(code: TriggerCode, limit: Decimal, action: str, at: float, evaluate: Callable[[], Reading]) -> Reading:
    """Evaluate one trigger; an exception trips it (fail closed) with the error in the reading."""
    try:
        return evaluate()
    except Exception as exc:
        return Reading(code, limit, limit, action, f"evaluation failed: {type(exc).__name__}: {str(exc)[:160]}", at,
                       error=type(exc).__name__)
