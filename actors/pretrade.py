"""Pre-trade checks: pure functions over a frozen :class:`RiskView` snapshot, each refusal with a stable code.

Worst-case loss of a binary order (fees included), in YES-book terms with ``y`` the YES-book limit price,
``c`` the count and ``q`` the current signed position (+ YES, − NO contracts):

- a **bid** (buy YES / sell NO) first closes NO contracts (``r = min(c, max(0, −q − pending))``, where
  ``pending`` is what resting bids already close) and opens ``c − r`` YES contracts costing ``y`` each;
- an **ask** (sell YES / buy NO) first closes YES contracts the same way and opens ``c − r`` NO contracts
  costing ``1 − y`` each;
- loss = opening contracts × their price + ``max_taker_fee(c, y)`` (every contract taken at the limit).

Closing contracts cannot lose more than the fee (the position's own worst case shrinks by the same
amount), so an order with no opening part is **reducing**: it passes the exposure limits (and only the
exposure limits). Exposure of a market = cost of its position + worst-case loss of every open order
in it at full remaining size — RESTING and UNKNOWN alike, with no netting credit (fail closed). Event
exposure sums its markets; total sums everything. An UNKNOWN order in a market blocks new orders there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from kalshi_guard.actors.orders_api import ONE, ZERO, BookSide, OrderRequest, to_book
from kalshi_guard.config.schema import LimitSettings, RolloutStage
from kalshi_guard.core.errors import PreTradeRejected
from kalshi_guard.exchange.fees import max_taker_fee


class RejectCode(StrEnum):
    """Stable reason codes of pre-trade refusals (reported to the caller as ``reason``)."""

    MARKET_UNKNOWN = "MARKET_UNKNOWN"
    MARKET_CLOSED = "MARKET_CLOSED"
    TRADING_PAUSED = "TRADING_PAUSED"
    NEAR_CLOSE = "NEAR_CLOSE"
    UNKNOWN_ORDER_IN_MARKET = "UNKNOWN_ORDER_IN_MARKET"
    OFF_TICK = "OFF_TICK"
    SIZE_LIMIT = "SIZE_LIMIT"
    ORDER_LOSS_LIMIT = "ORDER_LOSS_LIMIT"
    MARKET_EXPOSURE = "MARKET_EXPOSURE"
    EVENT_EXPOSURE = "EVENT_EXPOSURE"
    TOTAL_EXPOSURE = "TOTAL_EXPOSURE"
    OPEN_ORDERS = "OPEN_ORDERS"
    THROTTLED = "THROTTLED"
    PRICE_COLLAR = "PRICE_COLLAR"
    OPEN_POSITIONS = "OPEN_POSITIONS"
    STAGE_LIMIT = "STAGE_LIMIT"


class OpenState(StrEnum):
    """States of orders that still count against limits."""

    INTENT = "INTENT"
    SENT = "SENT"
    RESTING = "RESTING"
    PARTIAL = "PARTIAL"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class PriceRange:
    """One band of a market's tick grid: prices ``start ≤ p ≤ end`` on multiples of ``step`` from start."""

    start: Decimal
    end: Decimal
    step: Decimal


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """What pre-trade needs to know about one market. ``status`` uses Kalshi's REST vocabulary."""

    ticker: str
    event_ticker: str
    status: str  # "active" trades; "inactive" is paused; anything else is not open
    close_ts: float  # Unix seconds
    price_ranges: tuple[PriceRange, ...]
    yes_bid: Decimal | None = None
    yes_ask: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PositionView:
    """Our position in a market: signed contracts (+ YES, − NO) and what it cost (its worst-case loss)."""

    position: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order that still counts: ``remaining`` at full size (UNKNOWN: the whole order)."""

    client_order_id: str
    ticker: str
    side: BookSide
    yes_price: Decimal
    remaining: Decimal
    state: OpenState


@dataclass(frozen=True, slots=True)
class Throttle:
    """Self-throttle token bucket: ``tokens`` available as of ``at`` (Unix seconds, injected clock)."""

    tokens: float
    at: float

    def available(self, now: float, rate: float, burst: float) -> float:
        """Tokens available at ``now`` after refilling at ``rate`` per second up to ``burst``."""
        return min(burst, self.tokens + max(0.0, now - self.at) * rate)

    def take(self, now: float, rate: float, burst: float) -> Throttle:
        """The bucket after one order at ``now``. Raises ValueError if no token is available."""
        left = self.available(now, rate, burst)
        if left < 1.0:
            raise ValueError("throttle empty")
        return Throttle(left - 1.0, now)


def throttle_burst(limits: LimitSettings) -> float:
    """Bucket size: one second of ``max_orders_per_s``, at least one order."""
    return max(1.0, limits.max_orders_per_s)


@dataclass(frozen=True, slots=True)
class RiskView:
    """A consistent snapshot of everything the checks read. Treat the mappings as read-only."""

    markets: Mapping[str, MarketInfo]
    positions: Mapping[str, PositionView]
    open_orders: tuple[OpenOrder, ...]
    throttle: Throttle
    trading_active: bool = True  # the exchange-wide flag (GET /exchange/status)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an order was refused."""

    code: RejectCode
    detail: str


def on_tick(yes_price: Decimal, ranges: tuple[PriceRange, ...]) -> bool:
    """True when ``yes_price`` lies on the grid of some range (boundaries belong to both neighbours)."""
    return any(
        r.step > 0 and r.start <= yes_price <= r.end and (yes_price - r.start) % r.step == 0 for r in ranges
    )


def order_loss(
    side: BookSide, yes_price: Decimal, count: Decimal, position: Decimal, pending_closing: Decimal = ZERO
) -> tuple[Decimal, Decimal]:
    """(worst-case loss with fees, opening contracts) of an order; see the module docstring."""
    against = -position if side is BookSide.BID else position  # contracts this side can close
    closable = max(ZERO, against - pending_closing)
    opening = count - min(count, closable)
    unit = yes_price if side is BookSide.BID else ONE - yes_price
    return opening * unit + max_taker_fee(count, yes_price), opening


def open_order_loss(o: OpenOrder) -> Decimal:
    """Worst-case loss of an open order at full remaining size, no netting credit."""
    return order_loss(o.side, o.yes_price, o.remaining, ZERO)[0]


def exposures(view: RiskView) -> dict[str, Decimal]:
    """The exposure of every market with a position or an open order, in one pass: position cost plus the
    full-size worst-case loss of every open order (RESTING and UNKNOWN) in it."""
    out = {ticker: pos.cost for ticker, pos in view.positions.items()}
    for o in view.open_orders:
        out[o.ticker] = out.get(o.ticker, ZERO) + open_order_loss(o)
    return out


def market_exposure(view: RiskView, ticker: str) -> Decimal:
    """Position cost plus full-size worst-case loss of every open order (RESTING and UNKNOWN) in ``ticker``."""
    return exposures(view).get(ticker, ZERO)


def _event_sum(view: RiskView, by_market: Mapping[str, Decimal], event_ticker: str) -> Decimal:
    return sum((e for t, e in by_market.items()
                if (m := view.markets.get(t)) is not None and m.event_ticker == event_ticker), ZERO)


def event_exposure(view: RiskView, event_ticker: str) -> Decimal:
    """Sum of market exposures over the markets of ``event_ticker``.

    A market is attributed to an event through ``view.markets``, so the view builder must include every
    market where we hold a position or an open order (total exposure counts them regardless).
    """
    return _event_sum(view, exposures(view), event_ticker)


def total_exposure(view: RiskView) -> Decimal:
    """Sum of every market's exposure, whether or not the market is in the view."""
    return sum(exposures(view).values(), ZERO)


def _collar(side: BookSide, y: Decimal, m: MarketInfo, collar: Decimal) -> str | None:
    """A detail when ``y`` is more than ``collar`` through the book (or there is no quote); else None."""
    if side is BookSide.BID:
        ref = m.yes_ask if m.yes_ask is not None else m.yes_bid
        if ref is None:
            return "no quote to check the price against"
        if y - ref > collar:
            return f"bid {y} is more than {collar} above the book ({ref})"
    else:
        ref = m.yes_bid if m.yes_bid is not None else m.yes_ask
        if ref is None:
            return "no quote to check the price against"
        if ref - y > collar:
            return f"ask {y} is more than {collar} below the book ({ref})"
    return None


def occupied_markets(view: RiskView) -> set[str]:
    """Markets that hold a position, or could come to hold one: a non-zero position, or any order that still
    counts (RESTING, UNKNOWN, …) — an open order counts as the position it could open (fail closed)."""
    held = {ticker for ticker, pos in view.positions.items() if pos.position != 0}
    return held | {o.ticker for o in view.open_orders}


def check(req: OrderRequest, view: RiskView, limits: LimitSettings, now: float) -> Rejection | None:
    """Run every pre-trade check in order; return the first refusal, or None when the order may go.

    Never raises on odd data: a missing market is MARKET_UNKNOWN, an empty book is PRICE_COLLAR.
    Passing does not consume a throttle token: the caller does ``view.throttle.take(...)`` on send.
    """
    m = view.markets.get(req.ticker)
    if m is None:
        return Rejection(RejectCode.MARKET_UNKNOWN, f"market {req.ticker} is not known")
    if m.status == "inactive" or not view.trading_active:
        return Rejection(RejectCode.TRADING_PAUSED, f"trading is paused on {req.ticker}")
    if m.status != "active" or now >= m.close_ts:
        return Rejection(RejectCode.MARKET_CLOSED, f"market {req.ticker} is {m.status}, not open")
    if m.close_ts - now < limits.close_buffer_min * 60:
        return Rejection(RejectCode.NEAR_CLOSE, f"market closes within {limits.close_buffer_min} minutes")
    unknown = [o.client_order_id for o in view.open_orders
               if o.ticker == req.ticker and o.state is OpenState.UNKNOWN]
    if unknown:
        return Rejection(RejectCode.UNKNOWN_ORDER_IN_MARKET, f"order {unknown[0]} in {req.ticker} is UNKNOWN")
    side, y = to_book(req)
    if not on_tick(y, m.price_ranges):
        return Rejection(RejectCode.OFF_TICK, f"price {req.price} (YES {y}) is not on the tick grid")
    if req.count > limits.max_order_count:
        return Rejection(RejectCode.SIZE_LIMIT, f"count {req.count} exceeds {limits.max_order_count}")
    pos = view.positions.get(req.ticker)
    pending = sum((o.remaining for o in view.open_orders if o.ticker == req.ticker and o.side is side), ZERO)
    loss, opening = order_loss(side, y, req.count, pos.position if pos else ZERO, pending)
    if loss > limits.max_order_loss:
        return Rejection(RejectCode.ORDER_LOSS_LIMIT, f"worst-case loss {loss} exceeds {limits.max_order_loss}")
    if opening > 0 and (pos is None or pos.position == 0):
        occupied = occupied_markets(view)
        if req.ticker not in occupied and len(occupied) >= limits.max_open_positions:
            return Rejection(RejectCode.OPEN_POSITIONS, f"{len(occupied)} markets hold or may hold a position "
                             f"(max {limits.max_open_positions}); {req.ticker} would be one more")
    if opening > 0:
        by_market = exposures(view)  # once for the three limits
        if by_market.get(req.ticker, ZERO) + loss > limits.max_market_exposure:
            return Rejection(RejectCode.MARKET_EXPOSURE, f"market exposure would exceed {limits.max_market_exposure}")
        if _event_sum(view, by_market, m.event_ticker) + loss > limits.max_event_exposure:
            return Rejection(RejectCode.EVENT_EXPOSURE, f"event exposure would exceed {limits.max_event_exposure}")
        if sum(by_market.values(), ZERO) + loss > limits.max_total_exposure:
            return Rejection(RejectCode.TOTAL_EXPOSURE, f"total exposure would exceed {limits.max_total_exposure}")
    if len(view.open_orders) >= limits.max_open_orders:
        return Rejection(RejectCode.OPEN_ORDERS, f"{len(view.open_orders)} open orders (max {limits.max_open_orders})")
    if view.throttle.available(now, limits.max_orders_per_s, throttle_burst(limits)) < 1.0:
        return Rejection(RejectCode.THROTTLED, f"more than {limits.max_orders_per_s} orders per second")
    collar = _collar(side, y, m, limits.price_collar)
    if collar is not None:
        return Rejection(RejectCode.PRICE_COLLAR, collar)
    return None


def stage_check(req: OrderRequest, view: RiskView, stage: RolloutStage | None) -> Rejection | None:
    """The current rollout stage's caps (each unset cap: no extra limit), refused as STAGE_LIMIT naming the
    stage. Run after :func:`check`: the normal limits hold as well. Reducing orders pass the exposure caps."""
    if stage is None:
        return None
    if stage.max_order_count is not None and req.count > stage.max_order_count:
        return Rejection(RejectCode.STAGE_LIMIT, f"count {req.count} exceeds {stage.max_order_count} in rollout "
                                                 f"stage {stage.name!r}")
    side, y = to_book(req)
    pos = view.positions.get(req.ticker)
    pending = sum((o.remaining for o in view.open_orders if o.ticker == req.ticker and o.side is side), ZERO)
    loss, opening = order_loss(side, y, req.count, pos.position if pos else ZERO, pending)
    if stage.max_order_loss is not None and loss > stage.max_order_loss:
        return Rejection(RejectCode.STAGE_LIMIT, f"worst-case loss {loss} exceeds {stage.max_order_loss} in "
                                                 f"rollout stage {stage.name!r}")
    if opening > 0 and stage.max_total_exposure is not None and total_exposure(view) + loss > stage.max_total_exposure:
        return Rejection(RejectCode.STAGE_LIMIT, f"total exposure would exceed {stage.max_total_exposure} "
                                                     f"in rollout stage {stage.name!r}")
    if opening > 0 and stage.max_open_positions is not None and (pos is None or pos.position == 0):
        occupied = occupied_markets(view)
        if req.ticker not in occupied and len(occupied) >= stage.max_open_positions:
            return Rejection(RejectCode.STAGE_LIMIT, f"{len(occupied)} markets hold a position (max "
                                                     f"{stage.max_open_positions} in rollout stage {stage.name!r})")
    return None


def enforce(req: OrderRequest, view: RiskView, limits: LimitSettings, now: float) -> None:
    """Like :func:`check` but raises :class:`PreTradeRejected` (code, detail) on a refusal."""
    rejection = check(req, view, limits, now)
    if rejection is not None:
        raise PreTradeRejected(rejection.code.value, rejection.detail)
