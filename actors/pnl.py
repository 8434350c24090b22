"""One P&L vocabulary for the kill switch: gross, fees, net — realised and unrealised — plus the trading
day and the losing-streak replay.

- **Realised** comes from the ledger's fill and settlement records (``Ledger.realized_since``): gross is the
  fills' and settlements' realised P&L, fees every fill's fee, net = gross − fees.
- **Unrealised** marks each open position at what it could be sold for now: a long YES position at the best
  YES bid, a long NO position at the best NO bid (= 1 − best YES ask). An empty side marks at zero value
  (nothing could be sold): fail closed, the mark is never better than the book.
- **The trading day** starts at ``guardian.day_boundary`` in ``guardian.timezone``; :func:`day_of` names it.
- **Round trips**: a position's round trip runs from flat to flat (or to a sign flip, or a settlement); its
  P&L is the net of every fill in it (opening fees included) plus a settlement's realised P&L.
  :class:`StreakReplay` replays the ledger's tape and counts the losing round trips at the end in a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from zoneinfo import ZoneInfo

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Book:
    """The best prices of one market now (YES scale); None = that side is empty."""

    yes_bid: Decimal | None
    yes_ask: Decimal | None


@dataclass(frozen=True, slots=True)
class Mark:
    """One open position marked at the bid side: its value if sold now, its cost, and value − cost."""

    ticker: str
    net: Decimal
    value: Decimal
    cost: Decimal

    @property
    def unrealized(self) -> Decimal:
        """What selling now would realise (before the exit's fees)."""
        return self.value - self.cost


def mark(ticker: str, net: Decimal, cost_basis: Decimal, book: Book | None) -> Mark:
    """Mark a ledger position (signed ``net``, YES-scale ``cost_basis``) at the bid side of ``book``.

    Long YES is worth ``net × yes_bid`` and cost ``cost_basis``; long NO is worth ``|net| × (1 − yes_ask)``
    and cost ``|net| − cost_basis``. No book, or an empty side, is worth zero."""
    if net > 0:
        price = book.yes_bid if book is not None and book.yes_bid is not None else ZERO
        return Mark(ticker, net, net * price, cost_basis)
    held = -net
    price = ONE - book.yes_ask if book is not None and book.yes_ask is not None else ZERO
    return Mark(ticker, net, held * price, held - cost_basis)


@dataclass(frozen=True, slots=True)
class PnL:
    """Today's P&L in the one vocabulary: realised gross/fees/net, unrealised now and at the day anchor.

    ``total`` = realised net + (unrealised now − unrealised at the anchor): what the day has made or lost."""

    realized_gross: Decimal
    fees: Decimal
    unrealized: Decimal
    unrealized_at_anchor: Decimal = ZERO

    @property
    def realized_net(self) -> Decimal:
        """Realised gross minus fees."""
        return self.realized_gross - self.fees

    @property
    def total(self) -> Decimal:
        """Realised net plus the day's change in unrealised P&L."""
        return self.realized_net + self.unrealized - self.unrealized_at_anchor

    def as_dict(self) -> dict[str, str]:
        """Fixed-point strings for the API and the alerts."""
        return {"realized_gross": str(self.realized_gross), "fees": str(self.fees),
                "realized_net": str(self.realized_net), "unrealized": str(self.unrealized),
                "unrealized_at_anchor": str(self.unrealized_at_anchor), "total": str(self.total)}


@dataclass(frozen=True, slots=True)
class Day:
    """A trading day: its name and the instant it began (aware UTC)."""

    name: str
    start: datetime


def day_of(now: float, boundary: str = "00:00", zone: str = "UTC") -> Day:
    """The trading day that contains the Unix time ``now``: it began at the last ``boundary`` (HH:MM) in
    ``zone`` at or before ``now``. Raises ValueError for a malformed boundary; ZoneInfoNotFoundError for an
    unknown zone (both are refused by the settings schema first)."""
    tz = ZoneInfo(zone)
    hh, mm = (int(x) for x in boundary.split(":"))
    local = datetime.fromtimestamp(now, tz)
    start = datetime.combine(local.date(), dtime(hh, mm), tz)
    if start > local:
        start = datetime.combine(local.date() - timedelta(days=1), dtime(hh, mm), tz)
    return Day(f"{start.date().isoformat()}@{zone} {boundary}", start.astimezone(UTC))


@dataclass
class StreakReplay:
    """Losing round trips at the end in a row, replayed from the ledger's tape (see the module docstring).

    Fed incrementally (:meth:`feed`) after a full replay from the first record; ``after_fill`` and
    ``after_settlement`` are the last ids seen. Not thread-safe (the guardian owns it)."""

    streak: int = 0
    after_fill: int = 0
    after_settlement: int = 0
    last_trip: Decimal | None = None
    _net: dict[str, Decimal] = field(default_factory=dict)
    _trip: dict[str, Decimal] = field(default_factory=dict)

    def feed(self, tape: Iterable[object]) -> None:
        """Apply ledger tape entries (``ledger.risk.TapeEntry``), oldest first."""
        for e in tape:
            kind, ticker = e.kind, e.ticker  # type: ignore[attr-defined]
            if kind == "fill":
                self.after_fill = max(self.after_fill, e.row_id)  # type: ignore[attr-defined]
                self._fill(ticker, e.delta, e.realized - e.fee)  # type: ignore[attr-defined]
            else:
                self.after_settlement = max(self.after_settlement, e.row_id)  # type: ignore[attr-defined]
                pnl = self._trip.pop(ticker, ZERO) + e.realized  # type: ignore[attr-defined]
                self._net.pop(ticker, None)
                self._close(pnl)

    def _fill(self, ticker: str, delta: Decimal, net_pnl: Decimal) -> None:
        was = self._net.get(ticker, ZERO)
        now = was + delta
        self._trip[ticker] = self._trip.get(ticker, ZERO) + net_pnl
        if was != 0 and (now == 0 or (now > 0) != (was > 0)):
            self._close(self._trip.pop(ticker))
        if now == 0:
            self._net.pop(ticker, None)
        else:
            self._net[ticker] = now

    def _close(self, pnl: Decimal) -> None:
        self.last_trip = pnl
        if pnl < 0:
            self.streak += 1
        elif pnl > 0:
            self.streak = 0


def marks(positions: Iterable[object], books: Mapping[str, Book]) -> list[Mark]:
    """Mark every open ledger position (``PositionRecord``) with the books read for them."""
    return [mark(p.ticker, p.net_count, p.cost_basis, books.get(p.ticker))  # type: ignore[attr-defined]
            for p in positions if p.net_count != 0]  # type: ignore[attr-defined]
