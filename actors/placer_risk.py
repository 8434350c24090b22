"""The order placer's risk view: positions and open orders from the ledger, cached briefly and kept
conservative in between, plus market facts (docs/architecture.md §6; used by :class:`actors.order_placer.OrderPlacer`).

Failures: a ledger read that fails raises ``LedgerError`` and a market read ``ExchangeError``; the placer
refuses the order either way (fail closed).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.pretrade import OpenOrder, OpenState, PositionView, RiskView
from kalshi_guard.config.schema import LimitSettings, RolloutStage
from kalshi_guard.config.shares import Share
from kalshi_guard.core.gate import OrderIntent
from kalshi_guard.exchange.wire import BookSide
from kalshi_guard.ledger import OrderStatus
from kalshi_guard.ledger.rollout import current_stage

ZERO = Decimal(0)
ANCHOR_REFRESH_S = 5.0  # a new day anchor reaches the limits within this
RISK_REFRESH_S = 0.05  # how stale the placer's view of positions and open orders may get (conservatively)
_OPEN_STATES = {s.value: OpenState(s.value) for s in OpenState}


class PlacerRiskView:
    """Mixin of the order placer. Expects ``self.ledger``, ``self.markets`` (a ``MarketCache``) and
    ``self.throttle``; call :meth:`_init_risk` from ``setup``."""

    ledger: Any
    markets: Any
    throttle: Any
    ctx: Any

    def _init_risk(self) -> None:
        self._risk: tuple[dict[str, PositionView], list[OpenOrder]] | None = None
        self._risk_at = 0.0
        self._unwritten = 0  # orders counted in the view before their write-ahead row exists (a batch)
        self._anchor: tuple[date, Decimal | None, float] | None = None  # (day, day-start value, read at)
        self._stage: tuple[RolloutStage | None, float] | None = None  # (current stage, read at)

    def _rollout_stage(self, stages: tuple[RolloutStage, ...]) -> RolloutStage | None:
        """The current rollout stage (None when no stages are configured), re-read from the ledger at most
        every ``ANCHOR_REFRESH_S`` (an operator's advance reaches the placer within that). ``LedgerError`` on
        a failed read (the placer refuses the order)."""
        if not stages:
            return None
        now = time.monotonic()
        if self._stage is None or now - self._stage[1] > ANCHOR_REFRESH_S:
            self._stage = (stages[current_stage(self.ledger, len(stages)).index], now)
        return self._stage[0]

    def _effective_limits(self, limits: LimitSettings) -> LimitSettings:
        """``limits`` with every share ("5%") in dollars of today's day-start value, re-read from the ledger
        at most every ``ANCHOR_REFRESH_S`` and at once when the UTC day of the injected clock changes (the
        day the guardian's anchor is written under). A limit given in dollars needs no read.
        A share with no anchor yet resolves to 0 (refuses every order that can lose money);
        a failed read raises ``LedgerError`` (the placer refuses the order)."""
        if not any(isinstance(getattr(limits, k), Share) for k in ("max_daily_loss", "max_order_loss")):
            return limits
        day, now = datetime.fromtimestamp(self.ctx.clock(), UTC).date(), time.monotonic()
        if self._anchor is None or self._anchor[0] != day or now - self._anchor[2] > ANCHOR_REFRESH_S:
            self._anchor = (day, self.ledger.daily_anchor(day), now)
        return limits.resolved(self._anchor[1])

    def _ledger_view(self) -> tuple[dict[str, PositionView], list[OpenOrder]]:
        """Positions and open orders as the ledger has them, re-read at most every ``RISK_REFRESH_S``.

        Between reads the placer adds every order it passes (at full size) and marks the ones it learns
        are UNKNOWN, so the cached view never under-counts exposure: a fill booked meanwhile is still
        counted as its open order, never as both, and the next read replaces everything with the ledger's
        truth. No re-read while orders passed for a batch await their write-ahead rows (the ledger does
        not have them yet).
        """
        now = time.monotonic()
        if self._risk is None or (now - self._risk_at > RISK_REFRESH_S and not self._unwritten):
            positions = {}
            for p in self.ledger.positions(open_only=True):
                cost = p.cost_basis if p.net_count > 0 else abs(p.net_count) - p.cost_basis
                positions[p.ticker] = PositionView(p.net_count, cost)
            open_orders = [
                OpenOrder(o.client_order_id, o.ticker, BookSide(o.book_side), o.price,
                          o.count if o.status is OrderStatus.UNKNOWN else o.open_count, _OPEN_STATES[o.status.value])
                for o in self.ledger.non_final_orders()
            ]
            self._risk, self._risk_at = (positions, open_orders), now
        return self._risk

    def _note_open(
        self, coid: str, ticker: str, side: str, yes_price: Decimal, count: Decimal, state: OpenState | None
    ) -> None:
        """Record a change the placer itself made in the cached view (``state`` None: no longer open)."""
        if self._risk is None:
            return
        orders = [o for o in self._risk[1] if o.client_order_id != coid]
        if state is not None:
            orders.append(OpenOrder(coid, ticker, BookSide(side), yes_price, count, state))
        self._risk = (self._risk[0], orders)

    def _view(self, ticker: str) -> RiskView:
        """Positions and open orders from the ledger (see :meth:`_ledger_view`), market facts from the
        exchange (cached by :class:`~actors.markets.MarketCache`)."""
        positions, orders = self._ledger_view()
        open_orders = tuple(orders)
        tickers = {ticker} | set(positions) | {o.ticker for o in open_orders}
        markets = {}
        for t in tickers:
            info = self.markets.info(t, with_book=t == ticker)
            if info is not None:
                markets[t] = info
        return RiskView(markets, positions, open_orders, self.throttle)

    @staticmethod
    def _intent(view: RiskView, ticker: str, side: str, count: Decimal) -> OrderIntent:
        """REDUCING when the order only shrinks an existing position (net of resting closing orders)."""
        pos = view.positions.get(ticker)
        if pos is None or pos.position == 0:
            return OrderIntent.OPENING
        closing = sum((o.remaining for o in view.open_orders if o.ticker == ticker and o.side.value == side), ZERO)
        room = pos.position if side == "ask" else -pos.position
        return OrderIntent.REDUCING if room > 0 and count + closing <= room else OrderIntent.OPENING
