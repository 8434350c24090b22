"""The simulator's markets: lifecycle states, the market record and the deterministic default set."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

DAY = 86_400


class MarketStatus(StrEnum):
    """REST market status (docs/kalshi.md §3.5); ``inactive`` is a paused market."""

    INITIALIZED = "initialized"
    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"
    DETERMINED = "determined"
    FINALIZED = "finalized"


# query-filter vocabulary -> REST statuses (docs/kalshi.md §3.5)
STATUS_FILTER: dict[str, tuple[MarketStatus, ...]] = {
    "unopened": (MarketStatus.INITIALIZED,),
    "open": (MarketStatus.ACTIVE,),
    "paused": (MarketStatus.INACTIVE,),
    "closed": (MarketStatus.CLOSED, MarketStatus.DETERMINED),
    "settled": (MarketStatus.FINALIZED,),
}


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A market to create: ticker, event, title and the mid price its synthetic liquidity starts at."""

    ticker: str
    event_ticker: str
    title: str
    start_mid: Decimal
    close_in_s: int = 30 * DAY


@dataclass(slots=True)
class Market:
    """One binary market's mutable state (guarded by the exchange lock)."""

    ticker: str
    event_ticker: str
    title: str
    open_ts: float
    close_ts: float
    status: MarketStatus = MarketStatus.ACTIVE
    result: str = ""
    settled_ts: float | None = None
    determined_ts: float | None = None
    last_price: Decimal = Decimal("0")
    volume: Decimal = Decimal("0")
    last_trade_size: Decimal = Decimal("0")
    open_interest: Decimal = Decimal("0")
    created_ts: float = 0.0
    updated_ts: float = 0.0
    market_id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.market_id:
            self.market_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kalshi-guard-sim/{self.ticker}"))

    @property
    def tradable(self) -> bool:
        """True while orders may be placed (active, not paused, not closed)."""
        return self.status is MarketStatus.ACTIVE

    @property
    def closed(self) -> bool:
        """True once past close (closed, determined or finalized): every order operation is refused."""
        return self.status in (MarketStatus.CLOSED, MarketStatus.DETERMINED, MarketStatus.FINALIZED)


DEFAULT_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("KXSIMCPI-26DEC-T30", "KXSIMCPI-26DEC", "Will CPI exceed 3.0%?", Decimal("0.4200")),
    MarketSpec("KXSIMCPI-26DEC-T35", "KXSIMCPI-26DEC", "Will CPI exceed 3.5%?", Decimal("0.2300")),
    MarketSpec("KXSIMRAIN-26DEC01-NYC", "KXSIMRAIN-26DEC01", "Rain in NYC on Dec 1?", Decimal("0.5600")),
    MarketSpec("KXSIMRAIN-26DEC01-SFO", "KXSIMRAIN-26DEC01", "Rain in SFO on Dec 1?", Decimal("0.3100")),
    MarketSpec("KXSIMBTC-26DEC31-B100K", "KXSIMBTC-26DEC31", "Bitcoin above $100k on Dec 31?",
               Decimal("0.6700")),
)

DEFAULT_TICKERS: tuple[str, ...] = tuple(m.ticker for m in DEFAULT_MARKETS)
