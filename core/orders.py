"""The order vocabulary every layer shares: the YES book, outcomes, actions, and the fixed-point formats.

Kalshi keeps one book per market, in YES prices: buying YES (or selling NO) is a bid, buying NO (or selling
YES) is an ask at ``1 − price``. Bots speak in outcomes and actions; the wire speaks in book sides. These
pure functions convert between the two and never fail on valid enum members.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

ONE = Decimal(1)
ZERO = Decimal(0)
COUNT_QUANTUM = Decimal("0.01")  # counts: hundredths of a contract
PRICE_QUANTUM = Decimal("0.0001")  # prices: up to 4 decimals on the wire
FEE_QUANTUM = Decimal("0.000001")  # fees: up to 6 decimals


class BookSide(StrEnum):
    """Side on the YES book: ``bid`` buys YES, ``ask`` sells YES (≡ buys NO)."""

    BID = "bid"
    ASK = "ask"


class Outcome(StrEnum):
    """The outcome a bot trades, and the outcome an order makes the user long (``yes`` ≡ bid, ``no`` ≡ ask)."""

    YES = "yes"
    NO = "no"


class Action(StrEnum):
    """Whether the bot buys or sells that outcome."""

    BUY = "buy"
    SELL = "sell"


def outcome_of(side: BookSide) -> Outcome:
    """The outcome that a book side makes the user long."""
    return Outcome.YES if side is BookSide.BID else Outcome.NO


def book_of(outcome: Outcome) -> BookSide:
    """The book side that makes the user long ``outcome``."""
    return BookSide.BID if outcome is Outcome.YES else BookSide.ASK


def outcome_price(outcome: Outcome, yes_price: Decimal) -> Decimal:
    """The price of ``outcome`` given a YES-book price (NO costs 1 − yes)."""
    return yes_price if outcome is Outcome.YES else ONE - yes_price


def book_side(outcome: Outcome, action: Action) -> BookSide:
    """The YES-book side of (outcome, action): buy YES / sell NO → bid; buy NO / sell YES → ask."""
    long_yes = (outcome is Outcome.YES) == (action is Action.BUY)
    return BookSide.BID if long_yes else BookSide.ASK


def from_book(side: BookSide, yes_price: Decimal, outcome: Outcome) -> tuple[Action, Decimal]:
    """Map a (book side, YES-book price) back to (action, price of ``outcome``) for a bot on ``outcome``."""
    long_yes = side is BookSide.BID
    action = Action.BUY if long_yes == (outcome is Outcome.YES) else Action.SELL
    return action, outcome_price(outcome, yes_price)


def count_str(value: Decimal) -> str:
    """A count on the wire: 2 decimals."""
    return str(value.quantize(COUNT_QUANTUM))


def price_str(value: Decimal) -> str:
    """A price on the wire: 4 decimals (averages rounded half-even)."""
    return str(value.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN))


def fee_str(value: Decimal) -> str:
    """A fee on the wire: 6 decimals."""
    return str(value.quantize(FEE_QUANTUM, rounding=ROUND_HALF_EVEN))
