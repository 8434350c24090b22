"""Reconciliation's second look: a position mismatch counts only when a quiet read of its market confirms it.

Kalshi has no atomic read of an account. A pass reads the positions, then the fills, then the ledger, and a
fill that lands between two of those reads is on one side only: while a bot trades, a full pass sees
"mismatches" that no lost fill explains. So every market the full pass found disagreeing is read again on
its own, bracketed:

1. the ledger's position row (net, cost, P&L, fees, last update),
2. the exchange's position in the market (net, total traded, last update),
3. the market's fills since the watermark and its settlements,
4. the exchange's position again, then which of those fills the ledger has booked, then the ledger's row
   again (the row the comparison uses).

The read is *quiet* when neither position row moved between its two reads (a fill moves total traded and
the update time even when it nets to zero). A quiet read is consistent: every fill the ledger booked happened
on the exchange before step 1, and every fill the exchange's position holds is in step 3. On a quiet read
the comparison is exact: a disagreement is confirmed. An agreement clears the finding, quiet or not (the
full pass accepts an agreement on the same terms).

A market that disagreed on, and traded through, every one of :data:`TRIES` reads is *unjudged* this pass:
neither agreed nor a mismatch. The reconciler counts consecutive unjudged passes per market and reports a
mismatch (with its action) after :data:`UNJUDGED_PASSES`; the fills comparison keeps catching lost fills
meanwhile.

The cash check races the same way (the balance is read first, the ledger's totals after the booking), so it
is made on a quiet look of its own (:func:`cash_look`); without one it waits for the next pass, which loses
nothing: the check is cumulative from the last reference.

Any failed read raises, and the caller fails the whole pass ("no information").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.reconcile_model import (
    ExchangeView,
    Finding,
    Kind,
    LedgerView,
    collateral,
    compare,
    settlement_key,
)
from kalshi_guard.exchange.wire import Fill

TRIES = 5  # bracketed reads of one market per pass before it is left unjudged
UNJUDGED_PASSES = 3  # consecutive passes a market may stay unjudged before its disagreement counts


@dataclass(frozen=True, slots=True)
class Verdict:
    """One market's second look: ``judged`` with the confirmed mismatches (none: the positions agreed), or
    not judged (it disagreed on every read and traded through each one) with the last read's figures."""

    ticker: str
    judged: bool
    findings: tuple[Finding, ...]
    ledger: str
    exchange: str


def confirm(client: Any, ledger: Any, view: ExchangeView, ticker: str, since: float | None, limit: int,
            actions: Any, beat: Callable[[], None] = lambda: None,
            keep: Callable[[list[Fill]], list[Fill]] | None = None) -> Verdict:
    """Up to :data:`TRIES` bracketed reads of ``ticker`` (see the module doc); ``keep`` filters each page of
    fills to those the ledger lacks (a fill booked during a read moves the ledger's row: not quiet). Raises
    on any failed read."""
    known = {f.trade_id: f for f in view.fills if f.ticker == ticker}
    min_ts = int(since) if since is not None else None
    last: tuple[Finding, ...] = ()
    for _ in range(TRIES):
        mark = ledger.position(ticker)
        before = _exchange_rows(client, limit, ticker).get(ticker)
        fills = dict(known)
        for f in client.get_fills(ticker=ticker, min_ts=min_ts, limit=limit, strict=True, keep=keep):
            fills.setdefault(f.trade_id, f)
        settlements = client.get_settlements(ticker=ticker, min_ts=min_ts, limit=limit, strict=True)
        after = _exchange_rows(client, limit, ticker).get(ticker)
        booked, row = _ledger_side(ledger, ticker, fills, settlements)
        plan = compare(_exchange_view(view, ticker, after, fills.values(), settlements), booked, actions)
        beat()
        found = tuple(f for f in plan.findings if f.kind is Kind.MISMATCH and f.ticker == ticker)
        if (before == after and row == mark) or not found:  # an agreement clears it, quiet or not (as in the
            return Verdict(ticker, True, found, *_figures(found))  # full pass)
        last = found
    return Verdict(ticker, False, (), *_figures(last))


def cash_look(client: Any, ledger: Any, limit: int) -> dict[str, Decimal] | None:
    """The cash figures of a quiet moment for :func:`actors.reconcile_model.cash_check`, or None when each of
    :data:`TRIES` looks saw trading. A look reads the ledger's totals, the exchange's positions, balance,
    resting orders, balance and positions, then the ledger's totals and positions again. It is quiet when
    nothing moved between the paired reads (a fill moves the positions, an order placed or cancelled moves
    the balance, a booking moves the totals) and the ledger's positions equal the exchange's (it has booked
    every fill the balance reflects). Raises on any failed read."""
    for _ in range(TRIES):
        totals = ledger.totals()
        rows = _exchange_rows(client, limit)
        balance = client.get_balance()
        resting = client.list_orders(status="resting", limit=limit, strict=True)
        quiet = client.get_balance().balance == balance.balance and _exchange_rows(client, limit) == rows
        nets = {t: p.position for t, p in rows.items() if p.position != 0}
        if quiet and ledger.totals() == totals and {p.ticker: p.net_count
                                                    for p in ledger.positions(open_only=True)} == nets:
            return {"total": balance.balance + collateral(resting), "realized": totals.realized_pnl,
                    "fees": totals.fees, "open_cost": totals.open_cost}
    return None


def _exchange_rows(client: Any, limit: int, ticker: str | None = None) -> dict[str, Any]:
    """The exchange's position rows by ticker (of one market with ``ticker``)."""
    rows = client.get_positions(ticker=ticker, limit=limit, strict=True).market_positions
    return {p.ticker: p for p in rows}


def _figures(found: tuple[Finding, ...]) -> tuple[str, str]:
    return (found[-1].ledger, found[-1].exchange) if found else ("", "")


def unjudged_finding(verdict: Verdict, passes: int, action: str) -> Finding:
    """The mismatch reported for a market left unjudged ``passes`` passes in a row."""
    return Finding(Kind.MISMATCH, verdict.ticker, verdict.ledger, verdict.exchange,
                   f"positions disagree; the market traded through every read of {passes} passes in a row "
                   f"({TRIES} bracketed reads each), so no read could clear it", action, False,
                   (("ticker", verdict.ticker), ("ledger", verdict.ledger), ("exchange", verdict.exchange)))


def _exchange_view(view: ExchangeView, ticker: str, row: Any, fills: Iterable[Any],
                   settlements: Iterable[Any]) -> ExchangeView:
    net = row.position if row is not None else Decimal(0)
    return ExchangeView({ticker: net} if net != 0 else {}, (), tuple(fills),
                        tuple(s for s in settlements if s.ticker == ticker), view.balance, view.cutoff)


def _ledger_side(ledger: Any, ticker: str, fills: dict[str, Any], settlements: Iterable[Any]) -> tuple[LedgerView, Any]:
    """What the ledger has booked of ``fills`` and ``settlements``, then its row of ``ticker`` (read last:
    equal to the row read before the exchange's, nothing was booked in between, so the view is consistent)."""
    booked = frozenset(ledger.booked_trade_ids(fills))
    settled = frozenset(ledger.booked_settlements(settlement_key(s) for s in settlements))
    row = ledger.position(ticker)
    net = row.net_count if row is not None else Decimal(0)
    return LedgerView({ticker: net} if net != 0 else {}, booked, {}, settled), row
