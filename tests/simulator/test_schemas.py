"""Simulator responses and stream messages validate against the stored Kalshi OpenAPI / AsyncAPI schemas.

Where the stored specs (openapi 3.15.0, asyncapi May 2026) are older than docs/kalshi.md §6.3, §6.3 wins:
those differences are listed explicitly in ``SECTION_6_3_WINS`` with the reason.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from websockets.sync.client import connect

from kalshi_guard.exchange.signing import Signer
from kalshi_guard.simulator.testing import ORDERS, T0, SignedClient, order_body

# The published specs sit in shared/ beside the repository (as on every developer machine and in CI).
SPECS = Path(os.environ.get("KALSHI_GUARD_TEST_SPECS", Path(__file__).resolve().parents[3] / "shared" / "kalshi"))
pytestmark = pytest.mark.skipif(not (SPECS / "openapi.yaml").exists(),
                                reason=f"the Kalshi specs are not at {SPECS} (set KALSHI_GUARD_TEST_SPECS)")

# (schema, error message) -> why the simulator is right and the stored (older) spec is stale
SECTION_6_3_WINS: dict[tuple[str, str], str] = {
    ("GetPositionsResponse", "'resting_orders_count' is a required property"):
        "deprecated; required in 3.15.0 but absent from §6.3 MarketPosition (dropped from required in 3.31.0)",
}


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: ``nullable: true`` becomes ``anyOf [schema, null]``."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _doc(name: str) -> dict[str, Any]:
    return _nullable(yaml.safe_load((SPECS / name).read_text()))


def violations(spec: str, schema: str, instance: Any) -> list[str]:
    """Schema errors of ``instance`` against ``#/components/schemas/<schema>`` minus the §6.3 allow-list."""
    root = copy.copy(_doc(spec))
    root["$ref"] = f"#/components/schemas/{schema}"
    validator = jsonschema.Draft7Validator(root)
    errors = []
    for e in validator.iter_errors(instance):
        where = "/".join(str(p) for p in e.absolute_path)
        if (schema, e.message) in SECTION_6_3_WINS:
            continue
        errors.append(f"{where}: {e.message}")
    return errors


def _api(schema: str, instance: Any) -> None:
    assert violations("openapi.yaml", schema, instance) == []


def _stream(schema: str, instance: Any) -> None:
    assert violations("asyncapi.yaml", schema, instance) == []


@pytest.fixture
def traded(client):
    """The client after a fill, a resting order and a settlement elsewhere."""
    client.post(ORDERS, order_body(price="0.99", count="2.00", tif="immediate_or_cancel"))
    client.post(ORDERS, order_body(price="0.10"))
    return client


class TestRestSchemas:
    def test_create_response(self, client):
        """CreateOrderV2Response validates (with and without fills)."""
        _api("CreateOrderV2Response", client.post(ORDERS, order_body(price="0.10")).json())
        _api("CreateOrderV2Response", client.post(ORDERS, order_body(price="0.99", tif="immediate_or_cancel")).json())

    def test_cancel_decrease_amend(self, client):
        """Cancel, decrease and amend responses validate."""
        oid = client.post(ORDERS, order_body(price="0.10", count="9.00")).json()["order_id"]
        _api("DecreaseOrderV2Response", client.post(f"{ORDERS}/{oid}/decrease", {"reduce_by": "1.00"}).json())
        amended = client.post(f"{ORDERS}/{oid}/amend", {"ticker": T0, "side": "bid", "price": "0.12", "count": "5.00"})
        _api("AmendOrderV2Response", amended.json())
        _api("CancelOrderV2Response", client.delete(f"{ORDERS}/{oid}").json())

    def test_batch_create(self, client):
        """Batch create validates, including a per-item error."""
        bad = order_body()
        bad["count"] = 3
        body = client.post(ORDERS + "/batched", {"orders": [order_body(price="0.10"), bad]}).json()
        _api("BatchCreateOrdersV2Response", body)

    def test_portfolio_reads(self, sim, traded):
        """Orders, order, fills, positions, balance and settlements validate."""
        orders = traded.get("/portfolio/orders").json()
        _api("GetOrdersResponse", orders)
        _api("Order", traded.get(f"/portfolio/orders/{orders['orders'][0]['order_id']}").json()["order"])
        _api("GetFillsResponse", traded.get("/portfolio/fills").json())
        _api("GetPositionsResponse", traded.get("/portfolio/positions").json())
        _api("GetBalanceResponse", traded.get("/portfolio/balance").json())
        sim.exchange.settle(T0, "yes")
        settlements = traded.get("/portfolio/settlements").json()["settlements"]
        assert settlements
        _api("Settlement", settlements[0])

    def test_market_reads(self, client):
        """Market, orderbook and exchange status validate."""
        _api("Market", client.get(f"/markets/{T0}").json()["market"])
        _api("GetMarketOrderbookResponse", client.get(f"/markets/{T0}/orderbook").json())
        _api("ExchangeStatus", client.get("/exchange/status").json())

    def test_order_group(self, client):
        """GetOrderGroupResponse validates."""
        gid = client.post("/portfolio/order_groups/create", {"contracts_limit": 5}).json()["order_group_id"]
        _api("GetOrderGroupResponse", client.get(f"/portfolio/order_groups/{gid}").json())


class TestStreamSchemas:
    def test_private_and_public_messages(self, sim):
        """fill, user_order, market_position, orderbook, ticker, lifecycle and group messages validate."""
        headers = Signer(sim.key_id, sim.private_key).headers("GET", "/trade-api/ws/v2")
        schema_of = {"fill": "fillPayload", "user_order": "userOrderPayload",
                     "market_position": "marketPositionPayload", "orderbook_snapshot": "orderbookSnapshotPayload",
                     "orderbook_delta": "orderbookDeltaPayload", "ticker": "tickerPayload",
                     "market_lifecycle_v2": "marketLifecycleV2Payload",
                     "order_group_updates": "orderGroupUpdatesPayload", "subscribed": "subscribedResponsePayload"}
        with connect(sim.ws_url, additional_headers=headers) as ws, SignedClient(sim) as client:
            ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {
                "channels": ["fill", "user_orders", "market_positions", "orderbook_delta", "ticker",
                             "market_lifecycle_v2", "order_group_updates"], "market_tickers": [T0]}}))
            client.post("/portfolio/order_groups/create", {"contracts_limit": 5})
            client.post(ORDERS, order_body(price="0.99", count="1.00", tif="immediate_or_cancel"))
            sim.exchange.determine(T0, "no")
            seen: dict[str, Any] = {}
            while "market_lifecycle_v2" not in seen:
                frame = json.loads(ws.recv(timeout=5))
                seen.setdefault(frame["type"], frame)
        for kind, frame in seen.items():
            if kind in schema_of:
                _stream(schema_of[kind], frame)
        assert {"fill", "user_order", "market_position", "orderbook_snapshot", "ticker"} <= set(seen)
