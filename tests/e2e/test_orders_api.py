"""The order API of the real daemon: place, cancel, batch, reads, request errors, auth and the HALTED gate."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from kalshi_guard.exchange.keys import load_private_key
from kalshi_guard.exchange.signing import Signer
from kalshi_guard.simulator.testing import admin_request
from tests.waiting import wait_until

from .conftest import Daemon

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

TICKER = "KXSIMCPI-26DEC-T30"
COUNT = re.compile(r"^-?\d+\.\d{2}$")
PRICE = re.compile(r"^\d+\.\d{4}$")
FEE = re.compile(r"^\d+\.\d{6}$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


class Exchange:
    """The paper exchange behind a daemon, read with the key its status shows (public, signed, admin)."""

    def __init__(self, status: dict[str, Any]) -> None:
        ex = status["exchange"]
        self.base = ex["base_url"]
        parts = urlsplit(self.base)
        self.prefix = parts.path
        self.admin = f"{parts.scheme}://{parts.netloc}/_sim"
        self.admin_token = Path(ex["sim_admin_token_file"]).read_text().strip()
        self.signer = Signer(ex["key_id"], load_private_key(Path(ex["private_key_file"])))

    def get(self, path: str) -> dict[str, Any]:
        headers = self.signer.headers("GET", self.prefix + path.split("?", 1)[0])
        r = httpx.get(self.base + path, headers=headers, timeout=10, trust_env=False)
        r.raise_for_status()
        return r.json()

    def created(self) -> int:
        """Orders the simulator has accepted so far (its admin counter)."""
        return int(admin_request(self.admin, "GET", "/stats", token=self.admin_token).json()["created_orders"])

    def book(self, ticker: str = TICKER) -> tuple[Decimal, Decimal]:
        """(best YES bid, best YES ask) from public market data."""
        m = httpx.get(f"{self.base}/markets/{ticker}", timeout=10, trust_env=False).json()["market"]
        return Decimal(m["yes_bid_dollars"]), Decimal(m["yes_ask_dollars"])

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        for o in self.get("/portfolio/orders?limit=1000")["orders"]:
            if o["client_order_id"] == client_order_id:
                return o
        return None

    def position(self, ticker: str = TICKER) -> Decimal:
        rows = self.get("/portfolio/positions")["market_positions"]
        return sum((Decimal(p["position_fp"]) for p in rows if p["ticker"] == ticker), Decimal(0))


def decimal_string(value: Any) -> bool:
    """Money and counts travel as fixed-point strings, never JSON numbers."""
    return isinstance(value, str) and DECIMAL.match(value) is not None


def ledger_count(d: Daemon) -> int:
    r = d.api("GET", "/api/orders?limit=1000")
    assert r.status_code == 200, r.text
    return len(r.json()["orders"])


def order_json(price: Decimal | str, *, tif: str = "ioc", count: str = "1", **extra: Any) -> dict[str, Any]:
    body = {"ticker": TICKER, "outcome": "yes", "action": "buy", "count": count, "price": str(price),
            "time_in_force": tif}
    body.update(extra)
    return body


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon (paper, a static book) shared by the module's tests."""
    root = tmp_path_factory.mktemp("orders-api")
    d = Daemon(root / "state", {"KALSHI_GUARD_SIMULATOR__LIQUIDITY_INTERVAL_S": "0"})
    d.start()
    d.wait_ready()
    yield d
    d.close()


@pytest.fixture(scope="module")
def exchange(daemon: Daemon) -> Exchange:
    return Exchange(daemon.status())


class TestStatus:
    def test_status_shows_the_embedded_simulator(self, daemon: Daemon) -> None:
        """GET /api/status names the embedded simulator's loopback base URL, key id and existing key file."""
        ex = daemon.status()["exchange"]
        assert ex["environment"] == "simulator"
        assert ex["base_url"].startswith("http://127.0.0.1:")
        assert ex["base_url"].endswith("/trade-api/v2")
        assert ex["ws_url"].startswith("ws://127.0.0.1:")
        assert re.fullmatch(r"[0-9a-f-]{36}", ex["key_id"])
        key = Path(ex["private_key_file"])
        assert key.is_file()
        assert key.is_relative_to(daemon.state)
        assert daemon.token() not in daemon.api("GET", "/api/status").text


class TestPlace:
    def test_ioc_at_the_ask_fills_and_ledger_matches_the_exchange(self, daemon: Daemon, exchange: Exchange) -> None:
        """An IOC buy at the ask is FILLED with decimal-string money, and ledger and exchange agree on it."""
        _, ask = exchange.book()
        r = daemon.api("POST", "/api/orders", json=order_json(ask, reference_price=str(ask),
                                                              client_order_id="api-ioc-1"))
        assert r.status_code == 200, r.text
        conf = r.json()
        assert conf["status"] == "FILLED"
        assert conf["client_order_id"] == "api-ioc-1"
        assert conf["filled_count"] == "1.00"
        assert conf["remaining_count"] == "0.00"
        assert PRICE.match(conf["average_price"])
        assert Decimal(conf["average_price"]) <= ask
        assert FEE.match(conf["fees"])
        assert Decimal(conf["fees"]) > 0
        assert isinstance(conf["latency_ms"], int)
        assert set(conf["slippage"]) == {"vs_limit", "vs_reference"}
        assert conf["fills"]
        assert all(PRICE.match(f["price"]) and COUNT.match(f["count"]) for f in conf["fills"])
        ledger = daemon.api("GET", "/api/orders/api-ioc-1").json()
        assert ledger["status"] == "FILLED"
        assert ledger["order_id"] == conf["order_id"]
        on_exchange = exchange.order("api-ioc-1")
        assert on_exchange is not None
        assert on_exchange["order_id"] == conf["order_id"]
        assert Decimal(on_exchange["fill_count_fp"]) == Decimal(ledger["filled_count"]) == 1

    def test_gtc_rests_until_cancelled(self, daemon: Daemon, exchange: Exchange) -> None:
        """A GTC below the bid rests (ledger RESTING, exchange resting); a cancel ends it CANCELED on both."""
        bid, _ = exchange.book()
        result: dict[str, httpx.Response] = {}
        done = threading.Event()

        def place() -> None:
            result["r"] = daemon.api("POST", "/api/orders",
                                     json=order_json(bid - Decimal("0.05"), tif="gtc", client_order_id="api-gtc-1"))
            done.set()

        threading.Thread(target=place, daemon=True).start()
        wait_until(lambda: daemon.api("GET", "/api/orders/api-gtc-1").json().get("status") == "RESTING",
                   what="the GTC order resting in the ledger")
        assert exchange.order("api-gtc-1")["status"] == "resting"  # type: ignore[index]
        assert not done.is_set(), "the reply waits for the confirmation"
        cancel = daemon.api("POST", "/api/orders/api-gtc-1/cancel")
        assert cancel.status_code == 202
        assert cancel.json() == {"accepted": True}
        assert done.wait(30), "the confirmation arrives after the cancel"
        conf = result["r"].json()
        assert result["r"].status_code == 200
        assert conf["status"] == "CANCELED"
        assert conf["filled_count"] == "0.00"
        assert conf["average_price"] is None
        assert daemon.api("GET", "/api/orders/api-gtc-1").json()["status"] == "CANCELED"
        assert exchange.order("api-gtc-1")["status"] == "canceled"  # type: ignore[index]

    def test_cancel_of_an_unknown_order_is_404(self, daemon: Daemon) -> None:
        """Cancelling a client_order_id the ledger does not know is 404 naming the field."""
        r = daemon.api("POST", "/api/orders/no-such-order/cancel")
        assert r.status_code == 404
        assert r.json()["field"] == "client_order_id"

    def test_every_order_route_needs_the_token(self, daemon: Daemon, exchange: Exchange) -> None:
        """Without the bearer token every order route is 401 and nothing is written or sent."""
        before, sent = ledger_count(daemon), exchange.created()
        _, ask = exchange.book()
        for method, path, body in (("POST", "/api/orders", order_json(ask)),
                                   ("POST", "/api/orders/batch", {"orders": [order_json(ask)]}),
                                   ("POST", "/api/orders/api-ioc-1/cancel", None),
                                   ("GET", "/api/orders", None), ("GET", "/api/orders/api-ioc-1", None),
                                   ("GET", "/api/positions", None)):
            for token in (None, "x" * 43):
                r = daemon.api(method, path, token=token, json=body)
                assert r.status_code == 401, (method, path, r.status_code)
        assert ledger_count(daemon) == before
        assert exchange.created() == sent


GOOD = order_json("0.30")
BAD_REQUESTS: list[tuple[str, Any, int, str, str]] = [
    ("bad JSON", b'{"ticker": ', 400, "body", "JSON object"),
    ("not an object", b"[1, 2]", 400, "body", "JSON object"),
    ("unknown field", {**GOOD, "colour": "red"}, 422, "colour", "unknown field"),
    ("missing field", {k: v for k, v in GOOD.items() if k != "price"}, 422, "price", "is required"),
    ("negative count", {**GOOD, "count": "-1"}, 422, "count", "positive"),
    ("zero count", {**GOOD, "count": "0"}, 422, "count", "positive"),
    ("count with 3 decimals", {**GOOD, "count": "1.005"}, 422, "count", "2 decimal places"),
    ("price above 1", {**GOOD, "price": "1.5"}, 422, "price", "between 0 and 1"),
    ("price of 0", {**GOOD, "price": "0"}, 422, "price", "between 0 and 1"),
    ("price off the tick grid", {**GOOD, "price": "0.305"}, 422, "price", "tick grid"),
    ("unknown ticker", {**GOOD, "ticker": "KXNOSUCH-26DEC-T1"}, 422, "ticker", "market the exchange knows"),
    ("count as a JSON number", {**GOOD, "count": 1}, 422, "count", "decimal string"),
    ("price as a JSON number", {**GOOD, "price": 0.3}, 422, "price", "decimal string"),
    ("bad outcome", {**GOOD, "outcome": "maybe"}, 422, "outcome", "must be one of"),
    ("bad time in force", {**GOOD, "time_in_force": "day"}, 422, "time_in_force", "must be one of"),
]


class TestRequestErrors:
    @pytest.mark.parametrize(("case", "body", "status", "field", "rule"), BAD_REQUESTS,
                             ids=[c[0] for c in BAD_REQUESTS])
    def test_a_bad_request_names_field_and_rule_and_changes_nothing(
        self, daemon: Daemon, exchange: Exchange, case: str, body: Any, status: int, field: str, rule: str
    ) -> None:
        """A malformed or out-of-range order gets a 4xx naming the field and the rule; nothing written or sent."""
        before, sent = ledger_count(daemon), exchange.created()
        kw = {"content": body} if isinstance(body, bytes) else {"json": body}
        r = daemon.api("POST", "/api/orders", **kw)
        assert r.status_code == status, r.text
        reply = r.json()
        assert reply["field"] == field
        assert rule in reply["rule"]
        assert ledger_count(daemon) == before, "nothing written"
        assert exchange.created() == sent, "nothing sent"


class TestBatch:
    def test_a_batch_is_confirmed_order_by_order(self, daemon: Daemon, exchange: Exchange) -> None:
        """A valid batch returns one confirmation per order, in order, and sends each order once."""
        bid, ask = exchange.book()
        sent = exchange.created()
        orders = [order_json(ask, client_order_id="api-batch-fill"),
                  order_json(bid - Decimal("0.05"), client_order_id="api-batch-miss")]
        r = daemon.api("POST", "/api/orders/batch", json={"orders": orders})
        assert r.status_code == 200, r.text
        confs = r.json()["confirmations"]
        assert [c["client_order_id"] for c in confs] == ["api-batch-fill", "api-batch-miss"]
        assert [c["status"] for c in confs] == ["FILLED", "CANCELED"]
        assert exchange.created() == sent + 2
        for c in confs:
            assert daemon.api("GET", f"/api/orders/{c['client_order_id']}").json()["status"] == c["status"]

    @pytest.mark.parametrize(("item", "field"), [({"count": "-2"}, "orders[1].count"),
                                                 ({"price": 0.4}, "orders[1].price"),
                                                 ({"side": "bid"}, "orders[1].side")])
    def test_one_bad_item_refuses_the_whole_batch(
        self, daemon: Daemon, exchange: Exchange, item: dict[str, Any], field: str
    ) -> None:
        """One invalid item gets 422 naming ``orders[i].field``; none of the batch is written or sent."""
        before, sent = ledger_count(daemon), exchange.created()
        _, ask = exchange.book()
        r = daemon.api("POST", "/api/orders/batch", json={"orders": [order_json(ask), {**order_json(ask), **item}]})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field
        assert ledger_count(daemon) == before
        assert exchange.created() == sent

    def test_an_empty_or_oversized_batch_is_refused(self, daemon: Daemon, exchange: Exchange) -> None:
        """An empty batch and one over the size limit are 422 on ``orders``; nothing sent."""
        sent = exchange.created()
        assert daemon.api("POST", "/api/orders/batch", json={"orders": []}).json()["field"] == "orders"
        big = daemon.api("POST", "/api/orders/batch", json={"orders": [order_json("0.30")] * 21})
        assert big.status_code == 422
        assert big.json()["field"] == "orders"
        assert exchange.created() == sent


class TestReads:
    def test_orders_list_newest_first_with_decimal_strings(self, daemon: Daemon, exchange: Exchange) -> None:
        """GET /api/orders lists ledger orders newest first, money and counts as decimal strings, filterable."""
        _, ask = exchange.book()
        for coid in ("api-list-1", "api-list-2"):
            assert daemon.api("POST", "/api/orders", json=order_json(ask, client_order_id=coid)).status_code == 200
            _, ask = exchange.book()
        orders = daemon.api("GET", "/api/orders?limit=2").json()["orders"]
        assert [o["client_order_id"] for o in orders] == ["api-list-2", "api-list-1"]
        for o in orders:
            for key in ("count", "price", "filled_count", "fees", "remaining_count"):
                assert decimal_string(o[key]), (key, o[key])
            assert o["ticker"] == TICKER
            assert o["outcome"] == "yes"
            assert o["action"] == "buy"
        filled = daemon.api("GET", "/api/orders?status=filled&limit=1000").json()["orders"]
        assert filled
        assert {o["status"] for o in filled} == {"FILLED"}
        assert daemon.api("GET", "/api/orders?status=BOGUS").json()["field"] == "status"
        assert daemon.api("GET", "/api/orders?limit=0").json()["field"] == "limit"

    def test_one_order_and_404(self, daemon: Daemon, exchange: Exchange) -> None:
        """GET /api/orders/{id} returns the ledger row; an unknown id is 404 naming the field."""
        _, ask = exchange.book()
        daemon.api("POST", "/api/orders", json=order_json(ask, client_order_id="api-show-1"))
        row = daemon.api("GET", "/api/orders/api-show-1").json()
        assert row["client_order_id"] == "api-show-1"
        assert row["status"] == "FILLED"
        assert Decimal(row["price"]) == ask
        assert isinstance(row["price"], str)
        missing = daemon.api("GET", "/api/orders/never-placed")
        assert missing.status_code == 404
        assert missing.json()["field"] == "client_order_id"

    def test_positions_match_the_exchange(self, daemon: Daemon, exchange: Exchange) -> None:
        """GET /api/positions shows decimal-string money and the same net count as the exchange."""
        _, ask = exchange.book()
        daemon.api("POST", "/api/orders", json=order_json(ask, client_order_id="api-pos-1"))
        positions = daemon.api("GET", "/api/positions").json()["positions"]
        mine = [p for p in positions if p["ticker"] == TICKER]
        assert len(mine) == 1
        for key in ("net_count", "cost_basis", "avg_price", "realized_pnl", "fees"):
            assert decimal_string(mine[0][key]), key
        assert Decimal(mine[0]["net_count"]) == exchange.position() > 0


class TestHalted:
    def test_an_order_through_a_halted_gate_is_rejected_409(self, daemon_factory: Callable[..., Daemon]) -> None:
        """After an emergency stop an order is 409 REJECTED with reason GATE_HALTED and nothing reaches the exchange."""
        d = daemon_factory(KALSHI_GUARD_SIMULATOR__LIQUIDITY_INTERVAL_S="0")
        d.start()
        d.wait_ready()
        ex = Exchange(d.status())
        _, ask = ex.book()
        stop = d.api("POST", "/api/bot/emergency-stop", json={"reason": "order API drill"})
        assert stop.status_code == 200
        assert stop.json()["result"]["state"] == "HALTED"
        sent = ex.created()
        r = d.api("POST", "/api/orders", json=order_json(ask, client_order_id="halted-1"))
        assert r.status_code == 409, r.text
        conf = r.json()
        assert conf["status"] == "REJECTED"
        assert conf["reason"] == "GATE_HALTED"
        assert conf["filled_count"] == "0.00"
        assert conf["order_id"] is None
        batch = d.api("POST", "/api/orders/batch", json={"orders": [order_json(ask)]})
        assert [c["reason"] for c in batch.json()["confirmations"]] == ["GATE_HALTED"]
        assert ex.created() == sent
        assert ex.order("halted-1") is None
