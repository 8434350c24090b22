"""Tests of order request parsing, outcome/book mapping and the confirmation reply (actors.orders_api)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from kalshi_guard.actors.orders_api import (
    Action,
    BookSide,
    Confirmation,
    ConfirmationStatus,
    Outcome,
    TimeInForce,
    from_book,
    parse_order_request,
    to_book,
)
from kalshi_guard.core.errors import GuardError, RequestInvalid

D = Decimal
GOOD = {"ticker": "KXBTC-26JAN-B100", "outcome": "no", "action": "buy", "count": "10.50", "price": "0.4000",
        "time_in_force": "gtc", "reference_price": "0.39", "client_order_id": "bot-1_a"}


def body(**changes):
    out = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            out.pop(key)
        else:
            out[key] = value
    return out


# (body, field named, words in the rule)
MALFORMED = [
    (["not", "an", "object"], "body", "JSON object"),
    (body(colour="red"), "colour", "unknown field"),
    (body(ticker=...), "ticker", "required"),
    (body(count=...), "count", "required"),
    (body(count=10), "count", "decimal string"),
    (body(count=10.5), "count", "decimal string"),
    (body(count="-1"), "count", "positive"),
    (body(count="0"), "count", "positive"),
    (body(count="1.005"), "count", "2 decimal"),
    (body(count="1e3"), "count", "fixed-point"),
    (body(count="NaN"), "count", "fixed-point"),
    (body(price="1.0000"), "price", "between 0 and 1"),
    (body(price="0"), "price", "between 0 and 1"),
    (body(price="-0.5"), "price", "between 0 and 1"),
    (body(price="0.12345"), "price", "4 decimal"),
    (body(price=0.4), "price", "decimal string"),
    (body(outcome="maybe"), "outcome", "one of"),
    (body(action="hold"), "action", "one of"),
    (body(time_in_force="gtt"), "time_in_force", "one of"),
    (body(ticker=""), "ticker", "non-empty"),
    (body(ticker="BAD TICKER"), "ticker", "characters"),
    (body(reference_price="2"), "reference_price", "between 0 and 1"),
    (body(client_order_id="x" * 65), "client_order_id", "64"),
    (body(client_order_id="has space"), "client_order_id", "letters"),
    (body(client_order_id=""), "client_order_id", "non-empty"),
    (body(client_order_id=7), "client_order_id", "non-empty string"),
    (body(outcome=True), "outcome", "one of"),
]


class TestParse:
    def test_good_request(self):
        """A well-formed body parses into Decimals and enums, exactly."""
        req = parse_order_request(GOOD)
        assert (req.outcome, req.action, req.time_in_force) == (Outcome.NO, Action.BUY, TimeInForce.GTC)
        assert (req.count, req.price, req.reference_price) == (D("10.50"), D("0.4000"), D("0.39"))
        assert req.client_order_id == "bot-1_a"

    def test_optional_fields_may_be_absent_or_null(self):
        """reference_price and client_order_id are optional and may be null."""
        req = parse_order_request(body(reference_price=None, client_order_id=...))
        assert (req.reference_price, req.client_order_id) == (None, None)

    @pytest.mark.parametrize(("raw", "field", "rule"), MALFORMED,
                             ids=[f"{i}-{f}" for i, (_, f, _) in enumerate(MALFORMED)])
    def test_malformed_names_field_and_rule(self, raw, field, rule):
        """Every malformed body raises RequestInvalid naming the field and the rule it broke."""
        with pytest.raises(RequestInvalid) as info:
            parse_order_request(raw)
        assert info.value.field == field
        assert rule in info.value.rule
        assert isinstance(info.value, GuardError)

    def test_decoded_json_round_trip(self):
        """A body decoded from JSON text parses the same as the dict."""
        assert parse_order_request(json.loads(json.dumps(GOOD))) == parse_order_request(GOOD)


class TestBookMapping:
    @pytest.mark.parametrize(("outcome", "action", "side", "yes"), [
        ("yes", "buy", BookSide.BID, "0.4000"),
        ("yes", "sell", BookSide.ASK, "0.4000"),
        ("no", "buy", BookSide.ASK, "0.6000"),
        ("no", "sell", BookSide.BID, "0.6000"),
    ])
    def test_to_book_and_back(self, outcome, action, side, yes):
        """Each (outcome, action) maps to Kalshi's book side and YES price, and back again."""
        req = parse_order_request(body(outcome=outcome, action=action, price="0.40"))
        assert to_book(req) == (side, D(yes))
        assert str(to_book(req)[1]) == yes
        assert from_book(side, D(yes), Outcome(outcome)) == (Action(action), D("0.40"))

    def test_wire_time_in_force(self):
        """The bot's short time-in-force names map to Kalshi's V2 spellings."""
        assert [t.wire for t in TimeInForce] == ["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]


class TestConfirmationJson:
    def test_rejected_constructor(self):
        """Confirmation.rejected builds a REJECTED reply with reason, detail and nothing filled."""
        c = Confirmation.rejected("OFF_TICK", "price not on grid", client_order_id="c", count=D(5))
        assert c.to_json() == {
            "status": "REJECTED", "order_id": None, "client_order_id": "c", "filled_count": "0.00",
            "remaining_count": "0.00", "unfilled_count": "5.00", "average_price": None, "fees": "0.000000",
            "slippage": None,
            "latency_ms": None, "reason": "OFF_TICK", "detail": "price not on grid",
        }

    def test_fields_are_decimal_strings(self):
        """Counts, prices and fees are fixed-point strings; no floats reach the JSON."""
        c = Confirmation(ConfirmationStatus.FILLED, "o", "c", D("3"), D("0"), D("1") / D("3"), D("0.01"),
                         None, 12)
        out = c.to_json()
        assert (out["filled_count"], out["average_price"], out["fees"]) == ("3.00", "0.3333", "0.010000")
        assert "reason" not in out
        assert not any(isinstance(v, float) for v in out.values())
