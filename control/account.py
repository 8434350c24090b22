"""The account view behind ``GET /api/account``, ``kalshi-guard status`` and the dashboard.

Mode; balance and portfolio value (read from the exchange); the ledger's open positions, each with a mark
and its unrealised P&L; today's P&L (UTC day) with fees apart; and exposure against each configured limit.

Marks: the mid of the market's YES bid and ask when both are quoted, else its last price, else none. A
long YES position of ``n`` contracts bought for ``cost_basis`` is worth ``n × mark``; a long NO position
(``net_count`` < 0) is worth ``|n| × (1 − mark)`` against its NO cost ``|n| − cost_basis``.

Failure: when the exchange cannot be read the balance, portfolio value and marks are ``null`` and
``exchange_error`` says why (the figures are never guessed); unrealised and total P&L are then ``null``
too. A ledger failure raises ``LedgerError`` (the route answers 503). Exchange reads are cached for
``ttl_s`` so a dashboard refreshing several times a second costs the exchange budget little.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from loguru import logger

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
MARKET_TTL_S = 2.0
BALANCE_TTL_S = 2.0


def mark_of(market: Any) -> Decimal | None:
    """The YES mark of a market: bid/ask mid, else last price, else ``None``."""
    bid, ask = getattr(market, "yes_bid", None), getattr(market, "yes_ask", None)
    if bid is not None and ask is not None and ask > 0:
        return (bid + ask) / 2
    last = getattr(market, "last_price", None)
    return last if last is not None and last > 0 else None


def unrealized(net_count: Decimal, cost_basis: Decimal, mark: Decimal | None) -> Decimal | None:
    """Mark-to-market P&L of an open position (``None`` without a mark)."""
    if mark is None or net_count == 0:
        return None if net_count != 0 else ZERO
    if net_count > 0:
        return net_count * mark - cost_basis
    held = -net_count
    return held * (ONE - mark) - (held - cost_basis)


def _fraction(value: Decimal, limit: Decimal) -> Decimal | None:
    if limit <= 0:
        return None
    return (value / limit).quantize(Decimal("0.0001"))


@dataclass(frozen=True, slots=True)
class Cached:
    """One cached exchange read: the value (or ``None``) and the error text when the read failed."""

    value: Any
    error: str | None
    at: float


class ExchangeReads:
    """Balance and market reads through one client, serialised and cached (thread-safe).

    ``client_factory`` returns a ``KalshiClient`` (or raises); it is created on first use and re-created
    after a failure. ``None`` means no exchange (every read answers "no exchange configured").
    """

    def __init__(self, client_factory: Callable[[], Any] | None, *, ttl_s: float = BALANCE_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._factory = client_factory
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._client: Any = None
        self._cache: dict[str, Cached] = {}

    def _read(self, key: str, call: Callable[[Any], Any]) -> Cached:
        with self._lock:
            hit = self._cache.get(key)
            now = self._clock()
            if hit is not None and now - hit.at < self._ttl:
                return hit
            if self._factory is None:
                got = Cached(None, "no exchange configured", now)
            else:
                try:
                    if self._client is None:
                        self._client = self._factory()
                    got = Cached(call(self._client), None, now)
                except Exception as exc:
                    logger.warning("account view: exchange read {} failed: {}", key, type(exc).__name__)
                    got = Cached(None, f"exchange read failed: {type(exc).__name__}", now)
                    self._drop_client()
            self._cache[key] = got
            return got

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # closing a broken client must not hide the read's failure
                logger.debug("account view: closing the client failed: {!r}", exc)

    def balance(self) -> Cached:
        """``Balance`` (balance, portfolio_value) or the error."""
        return self._read("balance", lambda c: c.get_balance())

    def mark(self, ticker: str) -> Cached:
        """The market's mark (``Decimal`` or ``None``) or the error."""
        return self._read(f"market:{ticker}", lambda c: mark_of(c.get_market(ticker)))

    def close(self) -> None:
        """Close the client (reads after this re-create it)."""
        with self._lock:
            self._drop_client()


def _limit_rows(limits: Any, exposure: Any, open_orders: int, net_today: Decimal,
                balance: Decimal | None, anchor: Decimal | None) -> list[dict[str, Any]]:
    """Exposure and loss figures against each limit: name, value, limit, used (fraction of the limit)."""
    worst_market = max(exposure.by_market.items(), key=lambda kv: kv[1], default=(None, ZERO))
    worst_event = max(exposure.by_event.items(), key=lambda kv: kv[1], default=(None, ZERO))
    loss = max(-net_today, ZERO)
    rows = [
        ("total_exposure", exposure.total, limits.max_total_exposure, None),
        ("market_exposure", worst_market[1], limits.max_market_exposure, worst_market[0]),
        ("event_exposure", worst_event[1], limits.max_event_exposure, worst_event[0]),
        ("open_orders", Decimal(open_orders), Decimal(limits.max_open_orders), None),
        ("daily_loss", loss, limits.max_daily_loss, None),
    ]
    out = [{"name": n, "value": v, "limit": lim, "used": _fraction(v, lim), "where": w} for n, v, lim, w in rows]
    if anchor is not None and anchor > 0:
        drop = ZERO if balance is None else max((anchor - balance) / anchor, ZERO).quantize(Decimal("0.0001"))
        out.append({"name": "balance_drop", "value": drop, "limit": limits.max_balance_drop,
                    "used": _fraction(drop, limits.max_balance_drop), "where": None})
    return out


class AccountView:
    """Builds the account dictionary from the ledger, the settings and the exchange reads."""

    def __init__(self, ledger: Any, settings: Callable[[], Any], reads: ExchangeReads,
                 clock: Callable[[], float] = time.time) -> None:
        self._ledger = ledger
        self._settings = settings
        self._reads = reads
        self._clock = clock

    def build(self) -> dict[str, Any]:
        """The account view (Decimals as Decimal; the route renders them as strings). Raises LedgerError."""
        settings = self._settings()
        ledger = self._ledger
        day = datetime.fromtimestamp(self._clock(), tz=UTC).date()
        bal = self._reads.balance()
        errors = [bal.error] if bal.error else []
        positions = []
        unreal_total: Decimal | None = ZERO
        for pos in ledger.positions(open_only=True):
            mark = self._reads.mark(pos.ticker)
            if mark.error and mark.error not in errors:
                errors.append(mark.error)
            upnl = unrealized(pos.net_count, pos.cost_basis, mark.value)
            unreal_total = None if upnl is None or unreal_total is None else unreal_total + upnl
            positions.append({
                "ticker": pos.ticker, "event_ticker": pos.event_ticker,
                "side": "YES" if pos.net_count > 0 else "NO", "contracts": abs(pos.net_count),
                "net_count": pos.net_count, "avg_price": pos.avg_price, "cost_basis": pos.cost_basis,
                "worst_case_cost": pos.worst_case_cost, "mark": mark.value,
                "unrealized_pnl": None if upnl is None else upnl.quantize(Decimal("0.000001")),
                "realized_pnl": pos.realized_pnl, "fees": pos.fees,
            })
        net_realized = ledger.daily_realized_pnl(day)
        fees = ledger.daily_fees(day)
        total = None if unreal_total is None else net_realized + unreal_total
        open_orders = len(ledger.non_final_orders())
        balance = bal.value.balance if bal.value is not None else None
        return {
            "mode": settings.mode.value,
            "as_of": self._clock(),
            "day": day.isoformat(),
            "balance": balance,
            "portfolio_value": bal.value.portfolio_value if bal.value is not None else None,
            "exchange_error": "; ".join(errors) or None,
            "positions": positions,
            "pnl_today": {
                "realized": net_realized + fees,  # gross: before fees
                "fees": fees,
                "realized_net": net_realized,
                "unrealized": None if unreal_total is None else unreal_total.quantize(Decimal("0.000001")),
                "total": None if total is None else total.quantize(Decimal("0.000001")),
            },
            "limits": _limit_rows(settings.limits, ledger.exposure(), open_orders, net_realized, balance,
                                  ledger.daily_anchor(day)),
        }
