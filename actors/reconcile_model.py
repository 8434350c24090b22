"""Reconciliation's classification: what the exchange says against what the ledger holds, with evidence.

Pure and quick (no I/O): :func:`compare` takes an :class:`ExchangeView` (every read of one pass) and a
:class:`LedgerView` (what the ledger knows of those ids and its open positions) and returns a :class:`Plan`:
the evidence to book (orphan orders to adopt, missing fills by ``trade_id``, settlements by key) and one
:class:`Finding` per discrepancy. Kinds:

- ``orphan_order`` — resting on the exchange, unknown to the ledger: adopted; action per config.
- ``orphan_fill`` — a fill the ledger lacks: booked once by ``trade_id``. On one of our orders it is a
  missed fill (resolved by booking); on an order that is not ours (unknown or adopted) the action applies.
- ``ghost_position`` — open (or larger) in the ledger, flat or smaller on the exchange, and the booked
  evidence explains it: corrected by that evidence.
- ``mismatch`` — the positions still disagree after every booking: nothing is corrected; action applies.
- ``settlement`` — booked with its revenue and P&L; the position closes.
- ``cash`` — the balance against the ledger's expectation since the last complete pass (:func:`cash_check`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from kalshi_guard.exchange.history import HistoricalCutoff, fill_time
from kalshi_guard.exchange.wire import Fill, Order
from kalshi_guard.exchange.wire_reads import Balance, Settlement

ZERO = Decimal(0)
ONE = Decimal(1)


class Kind(StrEnum):
    """The discrepancy classes of a reconciliation report."""

    ORPHAN_ORDER = "orphan_order"
    ORPHAN_FILL = "orphan_fill"
    GHOST_POSITION = "ghost_position"
    MISMATCH = "mismatch"
    SETTLEMENT = "settlement"
    CASH = "cash"


@dataclass(frozen=True, slots=True)
class Finding:
    """One discrepancy: what each side said, the evidence, the action taken, and whether booking resolved it
    (an unresolved finding makes the pass unclean: a reset is refused while one stands)."""

    kind: Kind
    ticker: str
    ledger: str
    exchange: str
    evidence: str
    action: str  # halt | reduce | alert | booked
    resolved: bool
    fields: tuple[tuple[str, str], ...] = ()  # for the alert

    def to_json(self) -> dict[str, Any]:
        """The report row."""
        return {"kind": self.kind.value, "ticker": self.ticker, "ledger": self.ledger, "exchange": self.exchange,
                "evidence": self.evidence, "action": self.action, "resolved": self.resolved}


@dataclass(frozen=True, slots=True)
class ExchangeView:
    """Everything one pass read from the exchange (complete, or the pass failed before building it)."""

    positions: Mapping[str, Decimal]  # non-zero unsettled positions by ticker
    resting: Sequence[Order]
    fills: Sequence[Fill]  # since the watermark (minus the overlap), live and archived, unique trade_ids;
    # only those the ledger lacked when their page was read, when the read was given the ledger's filter
    settlements: Sequence[Settlement]
    balance: Balance
    cutoff: HistoricalCutoff
    pages: int = 0
    fills_read: int = 0  # every fill the read saw (booked ones included)


@dataclass(frozen=True, slots=True)
class LedgerView:
    """What the ledger knows about the ids in an :class:`ExchangeView`."""

    positions: Mapping[str, Decimal]  # open positions by ticker
    booked: frozenset[str]  # trade_ids booked already
    known: Mapping[str, Any]  # ledger.reconcile.KnownOrder by order_id and by client_order_id
    settled: frozenset[str]  # settlement keys booked already
    deferred: frozenset[str] = frozenset()  # order ids of ours the ledger has no exchange id for yet: the
    # fill watcher's resolution of open orders books their fills; they count in the positions meanwhile


@dataclass(frozen=True, slots=True)
class Plan:
    """What a pass books, in order (adopt, fills, settlements), and what it reports."""

    adopt: tuple[Order, ...]
    fills: tuple[Fill, ...]
    settlements: tuple[tuple[str, Settlement], ...]
    findings: tuple[Finding, ...]
    projected: Mapping[str, Decimal] = field(default_factory=dict)
    deferred: int = 0  # fills left to the fill watcher (the ledger's cash figures lag them this pass)
    unjudged: tuple[str, ...] = ()  # markets whose mismatch no quiet read could confirm or clear this pass

    @property
    def unresolved(self) -> tuple[Finding, ...]:
        """The findings booking did not resolve."""
        return tuple(f for f in self.findings if not f.resolved)


def settlement_key(s: Settlement) -> str:
    """The booking key of a settlement (one per market and settlement time)."""
    return f"settlement:{s.ticker}:{s.settled_time or ''}"


def delta(f: Fill) -> Decimal:
    """A fill's signed effect on the position (YES positive)."""
    return f.count if f.book_side == "bid" else -f.count


def collateral(resting: Sequence[Order]) -> Decimal:
    """Cash the exchange holds against resting orders: remaining × the price of the outcome bought."""
    return sum((o.remaining_count * (o.yes_price if o.book_side == "bid" else ONE - o.yes_price)
                for o in resting), ZERO)


def _side(book_side: str) -> str:
    return "yes" if book_side == "bid" else "no"


def compare(ex: ExchangeView, led: LedgerView, actions: Any) -> Plan:
    """Classify every difference between ``ex`` and ``led`` (see the module doc)."""
    findings: list[Finding] = []
    adopt: list[Order] = []
    for o in ex.resting:
        if o.order_id in led.known or (o.client_order_id and o.client_order_id in led.known):
            continue
        adopt.append(o)
        side = _side(o.book_side)
        fields = (("ticker", o.ticker), ("side", side), ("count", str(o.remaining_count)),
                  ("price", str(o.yes_price)), ("order_id", o.order_id))
        findings.append(Finding(
            Kind.ORPHAN_ORDER, o.ticker, "no such order",
            f"resting {side} {o.remaining_count} of {o.initial_count} @ {o.yes_price}",
            f"order {o.order_id} (client_order_id {o.client_order_id!r}) rests on the exchange; adopted",
            actions.orphan_order, False, fields))
    adopted = {o.order_id for o in adopt}
    missing = sorted((f for f in ex.fills if f.trade_id not in led.booked), key=lambda f: (fill_time(f) or 0.0,
                                                                                               f.trade_id))
    projected: dict[str, Decimal] = dict(led.positions)
    deferred = [f for f in missing if f.order_id in led.deferred]
    for f in deferred:
        projected[f.ticker] = projected.get(f.ticker, ZERO) + delta(f)
    missing = [f for f in missing if f.order_id not in led.deferred]
    by_ticker: dict[str, list[str]] = {}
    for f in missing:
        projected[f.ticker] = projected.get(f.ticker, ZERO) + delta(f)
        by_ticker.setdefault(f.ticker, []).append(f.trade_id)
        known = led.known.get(f.order_id)
        ours = known is not None and not known.adopted and f.order_id not in adopted
        whose = f"our order {known.client_order_id}" if ours and known is not None else f"order {f.order_id}, not ours"
        findings.append(Finding(
            Kind.ORPHAN_FILL, f.ticker, "not booked",
            f"{_side(f.book_side)} {f.count} @ {f.price} fee {f.fee}",
            f"fill {f.trade_id} of {whose}; booked", "booked" if ours else actions.orphan_fill, ours,
            (("ticker", f.ticker), ("trade_id", f.trade_id), ("order_id", f.order_id), ("count", str(f.count)),
             ("price", str(f.price)))))
    settle: list[tuple[str, Settlement]] = []
    for s in sorted(ex.settlements, key=lambda s: s.settled_time or ""):
        key = settlement_key(s)
        if key in led.settled or any(k == key for k, _ in settle):
            continue
        settle.append((key, s))
        held = projected.get(s.ticker, ZERO)
        projected[s.ticker] = ZERO
        settled = s.yes_count - s.no_count
        findings.append(Finding(
            Kind.SETTLEMENT, s.ticker, f"holding {held}",
            f"settled {s.market_result}: yes {s.yes_count} no {s.no_count}, revenue {s.revenue}",
            f"{key}; booked, position closed", "booked", True,
            (("ticker", s.ticker), ("result", s.market_result), ("revenue", str(s.revenue)))))
        if settled != held:
            findings.append(Finding(
                Kind.MISMATCH, s.ticker, str(held), str(settled),
                f"{key} settled {settled} contracts but the ledger held {held}", actions.mismatch, False))
    for t in sorted(set(projected) | set(ex.positions)):
        lp, ep = projected.get(t, ZERO), ex.positions.get(t, ZERO)
        before = led.positions.get(t, ZERO)
        if lp == ep:
            shrank = before != 0 and (ep == 0 or ((ep > 0) == (before > 0) and abs(ep) < abs(before)))
            if shrank and t in by_ticker:
                findings.append(Finding(
                    Kind.GHOST_POSITION, t, str(before), str(ep),
                    f"corrected by booked fills {', '.join(by_ticker[t][:10])}", actions.ghost_position, True))
            continue
        seen = by_ticker.get(t, [])
        why = f"after booking {', '.join(seen[:10])}" if seen else "no fill or settlement on the exchange explains it"
        findings.append(Finding(Kind.MISMATCH, t, str(lp), str(ep), f"positions disagree; {why}",
                                actions.mismatch, False, (("ticker", t), ("ledger", str(lp)), ("exchange", str(ep)))))
    return Plan(tuple(adopt), tuple(missing), tuple(settle), tuple(findings),
                {t: v for t, v in projected.items() if v != 0}, len(deferred))


def cash_check(ref: Mapping[str, str] | None, now: Mapping[str, Decimal], tolerance: Decimal,
               action: str) -> Finding | None:
    """Compare the cash (balance plus collateral of resting orders) with what the ledger expects since the
    reference ``ref`` (the last complete pass): ``ref.total + Δrealised − Δfees − Δopen cost``. ``now`` holds
    ``total``, ``realized``, ``fees`` and ``open_cost``. None when within ``tolerance`` or without a reference."""
    if not ref:
        return None
    try:
        expected = (Decimal(ref["total"]) + (now["realized"] - Decimal(ref["realized"]))
                    - (now["fees"] - Decimal(ref["fees"])) - (now["open_cost"] - Decimal(ref["open_cost"])))
    except (KeyError, ArithmeticError, ValueError):
        return None
    diff = now["total"] - expected
    if abs(diff) <= tolerance:
        return None
    return Finding(Kind.CASH, "*", f"expected {expected}", f"cash {now['total']}",
                   f"balance plus resting collateral differs by {diff} from the ledger's expectation "
                   f"(tolerance {tolerance})", action, False, (("difference", str(diff)),))
