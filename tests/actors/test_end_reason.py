"""Why an order ended short: a stable code and a sentence naming the best price of the caller's outcome."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from kalshi_guard.actors.end_reason import Quote, best_for, explain
from kalshi_guard.actors.orders_api import Action, OrderRequest, Outcome, TimeInForce

BOOK = Quote(yes_bid=D("0.41"), yes_ask=D("0.43"))


def req(outcome: str = "yes", action: str = "buy", price: str = "0.41", tif: str = "ioc") -> OrderRequest:
    return OrderRequest("KX-T", Outcome(outcome), Action(action), D(3), D(price), TimeInForce(tif))


@pytest.mark.parametrize(("outcome", "action", "best"), [
    ("yes", "buy", "0.43"), ("yes", "sell", "0.41"), ("no", "buy", "0.59"), ("no", "sell", "0.57"),
])
def test_best_price_is_on_the_callers_outcome(outcome, action, best):
    """Buying meets the outcome's ask, selling its bid; NO prices are 1 − the YES book's other side."""
    assert best_for(req(outcome, action), BOOK) == D(best)


def test_an_ioc_without_liquidity_names_the_best_price_seen():
    """IOC ended by the exchange with nothing filled: NO_LIQUIDITY_AT_LIMIT and the ask it could not meet."""
    code, detail = explain(req(), "exchange", D(3), BOOK)
    assert code == "NO_LIQUIDITY_AT_LIMIT"
    assert "buy yes at limit 0.4100" in detail
    assert "best yes ask was 0.4300" in detail


def test_an_empty_side_and_an_unread_book_are_said_so():
    """No offer on that side, or no book read at all, is stated rather than a made-up price."""
    assert "no no ask in the book" in explain(req("no"), "exchange", D(3), Quote(None, D("0.43")))[1]
    assert "the book was not read" in explain(req(), "exchange", D(3), None)[1]


@pytest.mark.parametrize(("ending", "tif", "code"), [
    ("canceled", "gtc", "CANCEL_REQUESTED"), ("timeout", "gtc", "CONFIRM_TIMEOUT"),
    ("accepted", "gtc", "ACCEPTED_AT_THRESHOLD"), ("exchange", "gtc", "EXCHANGE_CANCELED"),
    ("exchange", "fok", "NO_LIQUIDITY_AT_LIMIT"),
])
def test_each_ending_has_its_code(ending, tif, code):
    """Every way an order ends short maps to one code."""
    assert explain(req(tif=tif), ending, D(1), BOOK)[0] == code


def test_nothing_to_explain_when_all_filled():
    """A fully filled order has no reason."""
    assert explain(req(), "exchange", D(0), BOOK) is None


def test_describe_states_the_order_as_given_with_the_book_as_extra():
    """``describe`` is outcome, action, price of that outcome; Kalshi's YES-book side and price follow."""
    assert req("no", "buy", "0.60").describe() == "buy no KX-T 3.00 @ 0.6000 IOC (YES book: ask 0.4000)"
