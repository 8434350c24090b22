"""Specification of the simulator's live/historical split: Kalshi's cutoff, archived orders and fills under
``/historical/*`` (in Kalshi's shapes), gone from the live endpoints; resting orders always live."""

from __future__ import annotations

from datetime import datetime

from kalshi_guard.simulator.server import SimulatorServer
from kalshi_guard.simulator.testing import ORDERS, T0, SignedClient, order_body


def _ts(rfc: str) -> float:
    return datetime.fromisoformat(rfc.replace("Z", "+00:00")).timestamp()


class TestCutoff:
    def test_the_cutoff_has_kalshis_three_timestamps(self, sim: SimulatorServer, client: SignedClient) -> None:
        body = client.get("/historical/cutoff").json()
        assert set(body) == {"market_settled_ts", "trades_created_ts", "orders_updated_ts"}
        at = sim.exchange.archive(1_800_000_000.0)
        body = client.get("/historical/cutoff").json()
        assert {_ts(v) for v in body.values()} == {at}

    def test_the_cutoff_never_moves_back(self, sim: SimulatorServer) -> None:
        sim.exchange.archive(2_000_000_000.0)
        sim.exchange.archive(1_000.0)
        assert sim.exchange.orders_cutoff == 2_000_000_000.0


class TestArchive:
    def test_finished_orders_and_fills_move_to_historical(self, sim: SimulatorServer, client: SignedClient) -> None:
        """Before the cutoff: an executed order and its fill leave /portfolio/* (404 by id) for /historical/*."""
        done = sim.exchange.external_trade(T0, "yes", "2", "0.40")
        resting = client.post(ORDERS, order_body(T0, "bid", "1.00", "0.02")).json()["order_id"]
        sim.exchange.archive()
        live = {o["order_id"] for o in client.get("/portfolio/orders").json()["orders"]}
        assert live == {resting}, "resting orders always stay live"
        assert client.get(f"/portfolio/orders/{done}").status_code == 404
        assert client.get("/portfolio/fills").json()["fills"] == []
        hist = client.get("/historical/orders").json()
        assert [o["order_id"] for o in hist["orders"]] == [done]
        assert hist["cursor"] == ""
        assert hist["orders"][0]["status"] == "executed"
        fills = client.get("/historical/fills", params={"ticker": T0}).json()["fills"]
        assert [f["order_id"] for f in fills] == [done]
        assert {"fill_id", "trade_id", "count_fp", "yes_price_dollars", "fee_cost", "created_time"} <= set(fills[0])

    def test_historical_reads_filter_by_max_ts_and_paginate(self, sim: SimulatorServer, client: SignedClient) -> None:
        for _ in range(3):
            sim.exchange.external_trade(T0, "no", "1", "0.50")
        sim.exchange.archive()
        first = client.get("/historical/fills", params={"limit": 2}).json()
        assert len(first["fills"]) == 2
        assert first["cursor"]
        rest = client.get("/historical/fills", params={"limit": 2, "cursor": first["cursor"]}).json()
        assert len(rest["fills"]) == 1
        assert rest["cursor"] == ""
        assert client.get("/historical/orders", params={"max_ts": 1000}).json()["orders"] == []

    def test_historical_reads_are_signed(self, sim: SimulatorServer) -> None:
        import httpx

        assert httpx.get(sim.rest_url + "/historical/orders").status_code == 401
        assert httpx.get(sim.rest_url + "/historical/cutoff").status_code == 200


class TestSettlementsAndFaults:
    def test_settlements_filter_by_min_ts(self, sim: SimulatorServer, client: SignedClient) -> None:
        sim.exchange.external_trade(T0, "yes", "1", "0.40")
        sim.exchange.settle(T0, "yes")
        assert len(client.get("/portfolio/settlements").json()["settlements"]) == 1
        future = int(sim.exchange.clock()) + 3600
        assert client.get("/portfolio/settlements", params={"min_ts": future}).json()["settlements"] == []

    def test_a_short_page_drops_the_cursor_and_half_the_items(self, sim: SimulatorServer,
                                                               client: SignedClient) -> None:
        for _ in range(4):
            sim.exchange.external_trade(T0, "yes", "1", "0.40")
        sim.exchange.faults.configure({"short_page": {"get_fills": 1}})
        short = client.get("/portfolio/fills").json()
        assert "cursor" not in short
        assert len(short["fills"]) == 2
        assert len(client.get("/portfolio/fills").json()["fills"]) == 4, "only the next answer"
