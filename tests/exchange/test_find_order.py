"""Specification of finding our order by ``client_order_id`` (an UNKNOWN order's resolution): the lookup
lists only the market's orders created since we wrote it, less a minute of clock skew, and keeps only the
match, so its cost is that window's orders and not every order the market ever had (a soak's lookups read
thousands of orders each, and grew with the run)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kalshi_guard.exchange.rest import CLOCK_SKEW_S, KalshiClient
from kalshi_guard.exchange.wire import BookSide, CreateOrderRequest
from kalshi_guard.simulator.testing import T0


def place(client: KalshiClient, coid: str) -> str:
    req = CreateOrderRequest(T0, BookSide.BID, Decimal("1"), Decimal("0.01"), client_order_id=coid)
    return client.create_order(req).order_id


def backdate(sim: Any, order_id: str, seconds: float) -> float:
    order = sim.exchange.orders[order_id]
    order.created_ts -= seconds
    return float(order.created_ts)


def test_found_when_written_before_it_was_created(sim: Any, client: KalshiClient) -> None:
    order_id = place(client, "ours")
    created = sim.exchange.orders[order_id].created_ts
    found = client.find_order_by_client_id(T0, "ours", since=created + CLOCK_SKEW_S - 5)
    assert found is not None, "a local clock up to a minute ahead still finds it"
    assert found.order_id == order_id


def test_older_orders_are_not_listed(sim: Any, client: KalshiClient) -> None:
    """An order created more than the skew before we wrote ours cannot be ours: it is not read at all."""
    old = place(client, "old")
    created = backdate(sim, old, 3600)
    assert client.find_order_by_client_id(T0, "old", since=created + CLOCK_SKEW_S + 60) is None
    assert client.find_order_by_client_id(T0, "old").order_id == old, "without a write time every order counts"


def test_only_the_match_is_kept_of_a_long_listing(sim: Any, client: KalshiClient) -> None:
    ids = [place(client, f"c-{i}") for i in range(30)]
    kept: list[Any] = []
    real = client._pages

    def spy(*args: Any, **kw: Any) -> Any:
        out = real(*args, **kw)
        kept.append(out)
        return out

    client._pages = spy  # type: ignore[method-assign]
    found = client.find_order_by_client_id(T0, "c-17")
    assert found is not None
    assert found.order_id == ids[17]
    assert [len(k) for k in kept] == [1], "the listing held one order, not thirty"
