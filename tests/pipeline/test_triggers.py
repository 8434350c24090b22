"""The kill-switch triggers on the real tree and the simulator: each fires at its threshold and not one step
before — daily loss from an unrealised drop, a losing streak spanning a restart, the API error rate from
failing reads — and opening positions at the market never trips the portfolio-drop switch."""

from __future__ import annotations

import re
import time
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import pytest

from kalshi_guard.actors.messages import LimitsQuery
from kalshi_guard.core.errors import Ambiguous
from kalshi_guard.core.gate import GateState
from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from kalshi_guard.simulator.testing import running_simulator

T0 = DEFAULT_TICKERS[0]
SWEEP = {"check_interval_s": 0.2}
ROOMY = {"max_order_count": Decimal(1000), "max_order_loss": Decimal(1000), "max_market_exposure": Decimal(1000),
         "max_event_exposure": Decimal(1000), "max_total_exposure": Decimal(1000)}


def readings(p: Any) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in p.sup.peers["guardian"].ask(LimitsQuery(), timeout=10)}


def reading_after(p: Any, code: str, since: float) -> dict[str, Any]:
    """The trigger's first reading evaluated after ``since`` (a sweep or an event)."""
    return p.wait(lambda: (r := readings(p).get(code)) is not None and r["evaluated_at"] > since and r, 15,
                  f"a {code} reading after {since}")


def stopped(p: Any, code: str) -> None:
    """Wait for the kill switch's stop by ``code`` to have run every step; the gate is HALTED."""
    p.wait(lambda: (t := p.sup.killswitch.last) is not None and t.code == code and t.done.is_set(), 20,
           f"the {code} stop")
    assert p.gate.state is GateState.HALTED


def quote(p: Any, bid: Decimal) -> None:
    """Replace T0's book with one bid at ``bid`` and one ask two cents above."""
    ex = p.sim.exchange
    ex.cancel_maker_orders(T0)
    ex.place_maker(T0, "bid", bid, Decimal(100))
    ex.place_maker(T0, "ask", bid + Decimal("0.02"), Decimal(100))


class TestDailyLoss:
    def test_an_unrealised_drop_trips_at_the_limit_and_not_a_tick_before(self, pipeline_factory) -> None:
        """Long 10 YES: the loss is fees + cost − 10 × bid. At the last bid above the limit the gate stays
        ACTIVE (and the reading says so); one cent lower it halts with DAILY_LOSS."""
        p = pipeline_factory(limits={"max_daily_loss": Decimal("1.00"), "max_consecutive_losses": 100},
                             guardian=SWEEP)
        assert p.trading.place_and_confirm(T0, "yes", "buy", "10", "0.99", "ioc", wait_s=20).filled_count == 10
        pos = p.ledger.position(T0)
        assert pos is not None
        trip_bid = ((pos.fees + pos.cost_basis - Decimal(1)) / 10).quantize(Decimal("0.01"), ROUND_FLOOR)
        safe_bid = trip_bid + Decimal("0.01")
        quote(p, safe_bid)
        expected = pos.fees + pos.cost_basis - 10 * safe_bid
        safe = p.wait(lambda: (r := readings(p).get("DAILY_LOSS")) and Decimal(r["value"]) == expected and r, 15,
                      f"a sweep marking the position at {safe_bid} (loss {expected})")
        assert Decimal(safe["value"]) < 1
        assert p.gate.state is GateState.ACTIVE
        quote(p, trip_bid)
        stopped(p, "DAILY_LOSS")


class TestPortfolioDrop:
    def test_opening_positions_at_the_market_never_trips_it(self, pipeline_factory) -> None:
        """Spending 30% of the cash on contracts drops the cash far past max_balance_drop (20%), but the
        portfolio (cash + positions at the bid) only by the spread and fees: the gate stays ACTIVE."""
        with running_simulator(seed=11, starting_balance=Decimal(500)) as sim:
            p = pipeline_factory(sim=sim, limits=ROOMY, guardian=SWEEP)
            first = p.wait(lambda: (r := readings(p).get("PORTFOLIO_DROP")) and "anchor" in r["detail"] and r, 15,
                           "the portfolio anchor")
            assert Decimal(first["value"]) == 0
            with p.exchange_client() as c:
                cash_before = c.get_balance().balance
            conf = p.trading.place_and_confirm(T0, "yes", "buy", "300", "0.99", "ioc", wait_s=20)
            assert conf.filled_count == 300
            with p.exchange_client() as c:
                cash_after = c.get_balance().balance
            assert (cash_before - cash_after) / cash_before > Decimal("0.2"), "the cash alone fell past the limit"
            after = reading_after(p, "PORTFOLIO_DROP", time.time())
            assert Decimal(after["value"]) < Decimal("0.2")
            assert p.gate.state is GateState.ACTIVE
            p._stop.set()
            p.sup.stop()


class TestApiErrorRate:
    def test_failing_reads_trip_it_at_the_rate(self, pipeline_factory) -> None:
        """No order is ever sent: reads alone (GET /markets failing with 500) move the rate; the gate stays
        ACTIVE while it is below max_api_error_rate and halts with API_ERROR_RATE when it reaches it."""
        p = pipeline_factory(limits={"max_api_error_rate": Decimal("0.5"), "api_error_min_calls": 10}, metered=True)
        p.faults(error_5xx_rate={"get_market": 1.0})
        client = p.sup.services["exchange_factory"]("bot-reads")
        try:
            for _ in range(100):
                if p.gate.state is GateState.HALTED:
                    break
                before = readings(p).get("API_ERROR_RATE")  # an ask: the guardian has judged what came before
                assert before is None or Decimal(before["value"]) < Decimal("0.5") or p.gate.state is GateState.HALTED
                with pytest.raises(Ambiguous):
                    client.get_market(T0)
            stopped(p, "API_ERROR_RATE")
        finally:
            client.close()
        # the rate when it tripped, as the stop recorded it (later calls — the stop's own cancel-all and the
        # reconciliation after it — succeed and move the live reading down again)
        reason = p.gate.snapshot().reason
        failed, calls = (int(x) for x in re.search(r"(\d+)/(\d+) exchange calls failed", reason).groups())
        assert Decimal(failed) / calls >= Decimal("0.5"), reason
        assert calls >= 10


class TestLosingStreak:
    def test_a_streak_of_four_spans_a_restart(self, pipeline_factory) -> None:
        """Three losing round trips, a restart of the whole tree on the same ledger, then the fourth halts;
        after the restart the reading already says 3 (derived from the ledger) and the gate is ACTIVE."""
        with running_simulator(seed=11) as sim:
            first = pipeline_factory(sim=sim, limits={"max_daily_loss": Decimal(1000)})
            for _ in range(3):
                self.losing_round_trip(first)
            url = first.ledger_url
            first._stop.set()
            first.sup.stop()
            first.ledger.close()
            second = pipeline_factory(sim=sim, limits={"max_daily_loss": Decimal(1000)}, guardian=SWEEP,
                                      ledger_url=url)
            streak = reading_after(second, "LOSING_STREAK", time.time())
            assert Decimal(streak["value"]) == 3
            assert second.gate.state is GateState.ACTIVE
            self.losing_round_trip(second)
            stopped(second, "LOSING_STREAK")
            second._stop.set()
            second.sup.stop()

    @staticmethod
    def losing_round_trip(p: Any) -> None:
        assert p.trading.place_and_confirm(T0, "yes", "buy", "1", "0.99", "ioc", wait_s=20).filled_count == 1
        assert p.trading.place_and_confirm(T0, "yes", "sell", "1", "0.01", "ioc", wait_s=20).filled_count == 1
