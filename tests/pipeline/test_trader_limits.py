"""Limits as a trader states them, through the real placer on the simulator: the open-position cap, money
limits as a share of the day-start value, and a trade journal whose export adds up to the ledger."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kalshi_guard.actors.orders_api import BookSide
from kalshi_guard.actors.pretrade import order_loss
from kalshi_guard.config.shares import parse_money_or_share
from kalshi_guard.control.journal import to_csv
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from tests.pipeline.conftest import FakeClock

D = Decimal
A, B, C = DEFAULT_TICKERS[:3]


def buy_at_ask(p, ticker, count="1"):
    return p.trading.place_and_confirm(ticker, "yes", "buy", count, "0.99", "ioc", wait_s=20)


class TestOpenPositionCap:
    def test_a_third_market_is_refused_while_adding_to_a_held_one_passes(self, pipeline_factory):
        """Cap 2: positions in A and B; a buy in C is REJECTED OPEN_POSITIONS with nothing written or sent;
        adding to A fills."""
        p = pipeline_factory(limits={"max_open_positions": 2})
        assert buy_at_ask(p, A).status.value == "FILLED"
        assert buy_at_ask(p, B).status.value == "FILLED"
        creates = p.requests("create_order")
        refused = buy_at_ask(p, C)
        assert (refused.status.value, refused.reason) == ("REJECTED", "OPEN_POSITIONS")
        assert p.requests("create_order") == creates  # refused before the write-ahead: nothing sent
        assert all(o.ticker != C for o in p.ledger.orders())  # and nothing written
        assert buy_at_ask(p, A, "2").status.value == "FILLED"
        assert p.ledger_positions() == {A: D(3), B: D(1)}


class TestShareOfTheDayStartValue:
    def test_the_order_loss_share_refuses_the_order_that_crosses_it_and_accepts_the_one_below(self,
                                                                                               pipeline_factory):
        """max_order_loss = "5%": with no anchor recorded every order that can lose money is refused; once the
        day-start value (100) is recorded the figure is 5.00 — the largest order under it passes, one
        contract more is refused."""
        p = pipeline_factory(limits={"max_order_loss": parse_money_or_share("5%")})
        price = D("0.05")  # far below the book: an IOC that cannot fill, so no position changes the figure
        before = p.trading.place_and_confirm(A, "yes", "buy", "1", price, "ioc", wait_s=20)
        assert (before.status.value, before.reason) == ("REJECTED", "ORDER_LOSS_LIMIT")
        p.ledger.set_daily_anchor(datetime.now(UTC).date(), D("100"))
        figure = D("5")
        n = max(c for c in range(1, 101) if order_loss(BookSide.BID, price, D(c), D(0))[0] <= figure)
        assert order_loss(BookSide.BID, price, D(n + 1), D(0))[0] > figure
        below = p.wait(lambda: (c := p.trading.place_and_confirm(A, "yes", "buy", str(n), price, "ioc",
                                                                   wait_s=20)).reason != "ORDER_LOSS_LIMIT" and c,
                       timeout=15, what="the recorded anchor to reach the placer's limits")
        assert below.status.value == "CANCELED"  # sent, nothing at that price: it passed the limit
        above = p.trading.place_and_confirm(A, "yes", "buy", str(n + 1), price, "ioc", wait_s=20)
        assert (above.status.value, above.reason) == ("REJECTED", "ORDER_LOSS_LIMIT")
        assert "5.000000" in (above.detail or "")

    def test_the_day_whose_anchor_counts_is_the_injected_clocks(self, pipeline_factory):
        """The placer's trading day follows the actors' clock (the one the guardian writes the anchor under),
        not the machine's: with only tomorrow's anchor recorded the order is refused, and once the clock
        reaches tomorrow it passes at once (a new day is re-read without waiting for the refresh).
        Checked against the placer reading ``datetime.now``: the second order stays refused."""
        clock = FakeClock()
        p = pipeline_factory(limits={"max_order_loss": parse_money_or_share("5%")}, clock=clock)
        tomorrow = datetime.fromtimestamp(clock(), UTC).date() + timedelta(days=1)
        p.ledger.set_daily_anchor(tomorrow, D("100"))
        price = D("0.05")  # an IOC far below the book: sent and cancelled, no position
        today = p.trading.place_and_confirm(A, "yes", "buy", "1", price, "ioc", wait_s=20)
        assert (today.status.value, today.reason) == ("REJECTED", "ORDER_LOSS_LIMIT")
        clock.advance(86400)
        passed = p.trading.place_and_confirm(A, "yes", "buy", "1", price, "ioc", wait_s=20)
        assert passed.status.value == "CANCELED", passed


class TestJournalExport:
    def test_the_csv_export_reimports_to_the_report_and_the_ledger(self, pipeline_factory):
        """A session of trades (opens, adds, closes in two markets): the CSV's realised P&L and fees re-add to
        the day report's gross and fees and to the ledger's positions."""
        p = pipeline_factory()
        for ticker, count in ((A, "3"), (B, "2"), (A, "1")):
            assert buy_at_ask(p, ticker, count).status.value == "FILLED"
        for ticker, count in ((A, "4"), (B, "1")):
            sold = p.trading.place_and_confirm(ticker, "yes", "sell", count, "0.01", "ioc", wait_s=20)
            assert sold.status.value == "FILLED", sold
        exported = list(csv.DictReader(io.StringIO(to_csv(p.ledger.trades()))))
        assert len(exported) == 5
        assert {r["client_order_id"] for r in exported} <= {o.client_order_id for o in p.ledger.orders()}
        realized = sum((D(r["realized_pnl"]) for r in exported), D(0))
        fees = sum((D(r["fee"]) for r in exported), D(0))
        report = p.ledger.day_report(datetime.now(UTC).date())
        assert (report.gross_pnl, report.fees, report.net_pnl) == (realized, fees, realized - fees)
        positions = p.ledger.positions(open_only=False)
        assert realized == sum((q.realized_pnl for q in positions), D(0))
        assert fees == sum((q.fees for q in positions), D(0))
        assert realized != 0  # the session closed positions: the totals are not trivially zero


class TestRolloutStages:
    def test_the_stage_size_refuses_with_its_own_code_until_the_operator_advances(self, pipeline_factory):
        """Stage "week 1" caps orders at 1 contract: 2 are REJECTED STAGE_LIMIT (nothing sent), 1 fills; after
        the recorded advance to "week 2" (cap 5) the placer lets 2 through."""
        from kalshi_guard.config.schema import GoLiveSettings, RolloutStage
        from kalshi_guard.control.rollout import record_stage

        stages = (RolloutStage(name="week 1", max_order_count=D(1)), RolloutStage(name="week 2", max_order_count=D(5)))
        p = pipeline_factory(golive=GoLiveSettings(stages=stages))
        creates = p.requests("create_order")
        refused = buy_at_ask(p, A, "2")
        assert (refused.status.value, refused.reason) == ("REJECTED", "STAGE_LIMIT")
        assert "week 1" in (refused.detail or "")
        assert p.requests("create_order") == creates
        assert buy_at_ask(p, A, "1").status.value == "FILLED"
        record_stage(p.ledger, stages, 1, "week 1 ran clean", "test")
        passed = p.wait(lambda: (c := buy_at_ask(p, A, "2")).reason != "STAGE_LIMIT" and c, timeout=15,
                        what="the advance to reach the placer")
        assert passed.status.value == "FILLED"
