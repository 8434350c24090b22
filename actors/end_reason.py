"""Why an order ended short of its full count, as a stable code and a sentence for the confirmation.

A confirmation that ends with contracts unfilled (CANCELED, PARTIAL, TIMEOUT) says why in ``reason``:

- ``NO_LIQUIDITY_AT_LIMIT``: an IOC/FOK order the exchange ended because nothing (or not enough) was
  offered at or better than the limit; the detail names the best price of the outcome seen by the
  pre-trade check (``Quote``), so the caller knows which limit would have filled.
- ``CANCEL_REQUESTED``: cancelled on request (the API, the CLI, a halt).
- ``CONFIRM_TIMEOUT``: not filled within ``orders.confirm_timeout_s``; the rest was cancelled.
- ``ACCEPTED_AT_THRESHOLD``: enough filled to accept; the rest was cancelled.
- ``EXCHANGE_CANCELED``: the exchange ended a resting order (close, pause, self-trade prevention).

Prices are on the caller's outcome: buying YES meets the YES ask, buying NO the NO ask (1 − YES bid),
selling YES the YES bid, selling NO the NO bid (1 − YES ask).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kalshi_guard.actors.orders_api import Action, OrderRequest, Outcome, price_str

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Quote:
    """The YES book's top as the pre-trade check saw it (None where that side was empty)."""

    yes_bid: Decimal | None
    yes_ask: Decimal | None


def best_for(req: OrderRequest, quote: Quote) -> Decimal | None:
    """The best price of ``req.outcome`` that ``req`` could trade against, or None when none was offered."""
    buying = req.action is Action.BUY
    if req.outcome is Outcome.YES:
        return quote.yes_ask if buying else quote.yes_bid
    yes = quote.yes_bid if buying else quote.yes_ask
    return None if yes is None else ONE - yes


def explain(req: OrderRequest, ending: str, unfilled: Decimal, quote: Quote | None) -> tuple[str, str] | None:
    """``(code, detail)`` for an order that ended with ``unfilled`` contracts; None when all filled.

    ``ending`` is the tracker's end reason (``accepted``, ``timeout``, ``canceled``, ``exchange``).
    """
    if unfilled <= 0:
        return None
    if ending == "canceled":
        return "CANCEL_REQUESTED", f"cancelled on request with {unfilled} contracts unfilled"
    if ending == "timeout":
        return "CONFIRM_TIMEOUT", f"{unfilled} contracts not filled within the confirmation timeout; cancelled"
    if ending == "accepted":
        return "ACCEPTED_AT_THRESHOLD", f"filled enough to accept; the remaining {unfilled} were cancelled"
    if not req.time_in_force.immediate:
        return "EXCHANGE_CANCELED", f"the exchange ended the order with {unfilled} contracts unfilled"
    side = "ask" if req.action is Action.BUY else "bid"
    best = best_for(req, quote) if quote is not None else None
    limit = price_str(req.price)
    what = f"{req.action.value} {req.outcome.value} at limit {limit}"
    if quote is None:
        seen = "the book was not read"
    elif best is None:
        seen = f"no {req.outcome.value} {side} in the book"
    else:
        seen = f"best {req.outcome.value} {side} was {price_str(best)}"
    return "NO_LIQUIDITY_AT_LIMIT", f"{unfilled} contracts found no match for {what}: {seen} when checked"
