"""The account view: marks, unrealised P&L (YES and NO), today's P&L with fees apart, exposure against
limits, and what happens when the exchange cannot be read. Real SQLite ledger, real simulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from kalshi_guard.config.endpoints import make_client
from kalshi_guard.config.schema import ExchangeSettings, Settings
from kalshi_guard.control.account import AccountView, ExchangeReads, mark_of, unrealized
from kalshi_guard.core import observe
from kalshi_guard.ledger import FillRecord, Ledger
from kalshi_guard.simulator.server import SimulatorServer

D = Decimal
TICKER = "KXSIMCPI-26DEC-T30"


class TestMarks:
    def test_mark_is_the_mid_else_the_last_price(self):
        """Bid/ask mid when both are quoted; the last price otherwise; none without either."""
        assert mark_of(SimpleNamespace(yes_bid=D("0.40"), yes_ask=D("0.44"), last_price=D("0.1"))) == D("0.42")
        assert mark_of(SimpleNamespace(yes_bid=None, yes_ask=D("0.44"), last_price=D("0.41"))) == D("0.41")
        assert mark_of(SimpleNamespace(yes_bid=None, yes_ask=None, last_price=None)) is None

    def test_unrealised_for_yes_and_no_positions(self):
        """Long 10 YES bought for 4.00, mark 0.45 → +0.50; long 10 NO (sold YES at 0.40: basis 4.00, NO cost
        6.00), mark 0.45 → NO worth 5.50 → −0.50; no mark → unknown; flat → 0."""
        assert unrealized(D(10), D("4.00"), D("0.45")) == D("0.50")
        assert unrealized(D(-10), D("4.00"), D("0.45")) == D("-0.50")
        assert unrealized(D(10), D("4.00"), None) is None
        assert unrealized(D(0), D(0), None) == 0


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger.open(f"sqlite:///{tmp_path}/ledger.sqlite")
    yield led
    led.close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorServer]:
    root = tmp_path_factory.mktemp("sim")
    s = SimulatorServer(host="127.0.0.1", port=0, seed=7, state_file=None, key_dir=root / "keys",
                        starting_balance=D(1000), liquidity_interval_s=None)
    s.start()
    yield s
    s.stop()


def sim_client(sim: SimulatorServer):
    ex = ExchangeSettings(base_url=sim.rest_url, ws_url=sim.ws_url, key_id=sim.key_id,
                          private_key_file=Path(sim.private_key_path))
    return make_client(ex)


def book(ledger: Ledger, trade_id: str, side: str, count: str, price: str, fee: str) -> None:
    import time

    ledger.book_fill(FillRecord(trade_id, None, None, TICKER, side, D(count), D(price), D(fee), True, time.time()))


class TestAccountView:
    def test_balance_positions_and_pnl_from_the_exchange_and_the_ledger(self, ledger, sim):
        """Balance from the exchange; a position with the market's mark and its unrealised P&L; today's
        realised P&L gross of fees, the fees apart, and a total that adds them up."""
        book(ledger, "t1", "bid", "10", "0.40", "0.07")
        book(ledger, "t2", "ask", "4", "0.50", "0.03")  # sells 4 at 0.50: +0.40 realised, gross
        reads = ExchangeReads(lambda: sim_client(sim))
        view = AccountView(ledger, Settings, reads).build()
        reads.close()
        assert view["mode"] == "paper"
        assert view["balance"] == D(1000)
        assert view["exchange_error"] is None
        [pos] = view["positions"]
        assert pos["ticker"] == TICKER
        assert pos["side"] == "YES"
        assert pos["contracts"] == 6
        assert pos["mark"] is not None
        assert pos["unrealized_pnl"] == (6 * pos["mark"] - D("2.40")).quantize(D("0.000001"))
        pnl = view["pnl_today"]
        assert pnl["realized"] == D("0.40")
        assert pnl["fees"] == D("0.10")
        assert pnl["realized_net"] == D("0.30")
        assert pnl["total"] == pnl["realized_net"] + pnl["unrealized"]

    def test_exposure_against_each_limit(self, ledger):
        """Total, worst market and worst event exposure, open orders and daily loss, each with its limit and
        the fraction used."""
        book(ledger, "t1", "bid", "10", "0.40", "0.07")
        view = AccountView(ledger, Settings, ExchangeReads(None)).build()
        rows = {r["name"]: r for r in view["limits"]}
        assert set(rows) >= {"total_exposure", "market_exposure", "event_exposure", "open_orders", "daily_loss"}
        assert rows["total_exposure"]["value"] == D("4.00")
        assert rows["total_exposure"]["limit"] == D(500)
        assert rows["total_exposure"]["used"] == D("0.0080")
        assert rows["market_exposure"]["where"] == TICKER
        assert rows["daily_loss"]["value"] == D("0.07")

    def test_without_the_exchange_the_figures_are_unknown_and_say_why(self, ledger):
        """A failing exchange leaves balance, marks, unrealised and total P&L null (never guessed) and names
        the failure; the ledger's figures still show."""
        book(ledger, "t1", "bid", "10", "0.40", "0.07")

        def broken():
            raise ConnectionError("exchange down")

        view = AccountView(ledger, Settings, ExchangeReads(broken)).build()
        assert view["balance"] is None
        assert "ConnectionError" in view["exchange_error"]
        assert view["positions"][0]["mark"] is None
        assert view["positions"][0]["unrealized_pnl"] is None
        assert view["pnl_today"]["unrealized"] is None
        assert view["pnl_today"]["total"] is None
        assert view["pnl_today"]["fees"] == D("0.07")

    def test_exchange_reads_are_cached_for_the_ttl(self, sim):
        """Within the TTL a read is served from the cache; after it the exchange is asked again (counted on
        the real client's observation point)."""
        now = [0.0]
        calls = []
        leave = observe.subscribe(lambda kind, f: calls.append(f["route"]) if kind == "api_call" else None)
        reads = ExchangeReads(lambda: sim_client(sim), ttl_s=2.0, clock=lambda: now[0])
        try:
            reads.balance()
            now[0] = 1.0
            reads.balance()
            now[0] = 2.5
            assert reads.balance().value.balance == D(1000)
        finally:
            leave()
            reads.close()
        assert calls == ["/portfolio/balance", "/portfolio/balance"]
