"""Specification of the client's historical reads and strict pagination, against the simulator on loopback."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kalshi_guard.core.errors import Ambiguous, NotFoundError
from kalshi_guard.exchange.history import HistoricalCutoff, fill_time, parse_time
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.simulator.testing import T0


def test_the_cutoff_parses_to_unix_seconds(sim: Any, client: KalshiClient) -> None:
    sim.exchange.archive(1_800_000_000.5)
    cut = client.get_historical_cutoff()
    assert cut == HistoricalCutoff(1_800_000_000.5, 1_800_000_000.5, 1_800_000_000.5)


def test_a_malformed_cutoff_is_ambiguous() -> None:
    with pytest.raises(Ambiguous):
        HistoricalCutoff.parse({"market_settled_ts": "yesterday", "trades_created_ts": "x", "orders_updated_ts": "y"})
    assert parse_time("2026-05-28T20:26:40Z") == 1_780_000_000.0


def test_archived_orders_and_fills_are_read_from_historical(sim: Any, client: KalshiClient) -> None:
    """An archived order is 404 live and found under /historical/orders; its fill under /historical/fills."""
    order_id = sim.exchange.external_trade(T0, "yes", "3", "0.35")
    sim.exchange.archive()
    with pytest.raises(NotFoundError):
        client.get_order(order_id)
    [order] = client.get_historical_orders(ticker=T0, strict=True)
    assert (order.order_id, order.fill_count, order.yes_price) == (order_id, Decimal(3), Decimal("0.35"))
    [fill] = client.get_historical_fills(limit=1, strict=True)
    assert fill.order_id == order_id
    assert fill_time(fill) is not None
    assert client.get_fills() == []


def test_every_page_is_followed_and_counted(sim: Any, client: KalshiClient) -> None:
    for _ in range(5):
        sim.exchange.external_trade(T0, "no", "1", "0.50")
    before = client.pages_read
    assert len(client.get_fills(limit=2, strict=True)) == 5
    assert client.pages_read - before == 3


def test_a_partial_page_is_ambiguous_in_strict_mode_only(sim: Any, client: KalshiClient) -> None:
    """A page without ``cursor`` (Kalshi always sends "" on the last) is partial: strict reads refuse it."""
    for _ in range(4):
        sim.exchange.external_trade(T0, "yes", "1", "0.40")
    sim.exchange.faults.configure({"short_page": {"get_fills": 1}})
    with pytest.raises(Ambiguous, match="partial page"):
        client.get_fills(strict=True)
    sim.exchange.faults.configure({"short_page": {"get_fills": 1}})
    assert len(client.get_fills()) == 2, "lenient mode takes the page as the last one"
