"""Observation points: emit reaches every subscriber, never raises, and route templates hide identifiers."""

from __future__ import annotations

from kalshi_guard.core import observe


def test_emit_reaches_subscribers_until_they_leave():
    """A subscriber sees (kind, fields) until it unsubscribes."""
    seen = []
    leave = observe.subscribe(lambda kind, fields: seen.append((kind, dict(fields))))
    observe.emit("api_call", route="/x", error=None)
    leave()
    observe.emit("api_call", route="/y", error=None)
    assert seen == [("api_call", {"route": "/x", "error": None})]


def test_a_failing_subscriber_never_breaks_the_emitter_or_the_others():
    """A sink that raises is skipped for that event; the next sink still gets it."""
    seen = []

    def broken(kind, fields):
        raise RuntimeError("observer bug")

    leave_broken = observe.subscribe(broken)
    leave = observe.subscribe(lambda kind, fields: seen.append(kind))
    try:
        observe.emit("confirmation", status="FILLED", latency_ms=3)
    finally:
        leave_broken()
        leave()
    assert seen == ["confirmation"]


def test_route_templates_replace_tickers_and_ids():
    """Lower-case words stay; tickers, ids and query strings do not make new routes."""
    assert observe.route_template("/markets/KXBTC-25DEC/orderbook") == "/markets/{}/orderbook"
    assert observe.route_template("/portfolio/orders/7f3c-11ab") == "/portfolio/orders/{}"
    assert observe.route_template("/portfolio/balance?subaccount=1") == "/portfolio/balance"
    assert observe.route_template("/portfolio/events/orders/batched") == "/portfolio/events/orders/batched"


def test_a_field_may_be_called_kind():
    """emit's own first argument is positional-only, so an event may carry a field named ``kind``
    (a discrepancy's kind) without breaking the caller."""
    seen = []
    leave = observe.subscribe(lambda kind, fields: seen.append((kind, dict(fields))))
    try:
        observe.emit("discrepancy", kind="orphan")
    finally:
        leave()
    assert seen == [("discrepancy", {"kind": "orphan"})]
