"""Specification of the second look: a position mismatch counts only when a quiet read of its market confirms
it. Trading that races the reads is never a mismatch; a real one is still found while the market trades;
a market that trades through every read is unjudged for at most ``UNJUDGED_PASSES`` passes in a row.

The races are exact, not timed: a hook on the simulator trades at the moment a read of positions, fills or
settlements arrives, and books the previous trade in the ledger as the fill watcher would (a beat behind).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.reconcile_confirm import TRIES, UNJUDGED_PASSES
from kalshi_guard.core.gate import GateState
from kalshi_guard.ledger.records import FillRecord
from kalshi_guard.simulator.accounts import DEFAULT_ACCOUNT
from tests.actors.reconcile_rig import T0, T1, Rig

RACED = ("get_positions", "get_fills", "get_settlements")
FULL, LOOK = 3, 4  # raced reads in a full pass, and in one bracketed read (positions, fills, settlements, positions)


class Racer:
    """A bot trading ``ticker`` at every raced read, its fills booked one read late; ``budget`` reads (None:
    every read until :meth:`stop`)."""

    def __init__(self, rig: Rig, ticker: str, budget: int | None) -> None:
        self.rig, self.ticker, self.budget = rig, ticker, budget
        self.pending: list[FillRecord] = []
        self.trades = 0
        for route in RACED:
            rig.sim.ctx.before[route] = self.tick

    def tick(self) -> None:
        self._book()
        if self.budget is not None and self.trades >= self.budget:
            return
        side = "yes" if self.trades % 3 != 2 else "no"  # the position moves both ways
        order_id = self.rig.daemon_trade(self.ticker, side, "1", "0.50", book=False)
        acct = self.rig.sim.exchange.account(DEFAULT_ACCOUNT)
        self.pending = [FillRecord(f.fill_id, None, order_id, f.ticker, f.book_side, f.count, f.yes_price, f.fee,
                                   f.is_taker, f.ts) for f in acct.fills if f.order_id == order_id]
        self.trades += 1

    def stop(self) -> None:
        """No more trades; the last one is booked."""
        for route in RACED:
            self.rig.sim.ctx.before.pop(route, None)
        self._book()

    def _book(self) -> None:
        for f in self.pending:
            self.rig.ledger.book_fill(f)
        self.pending = []


def kinds(result: Any) -> list[tuple[str, str]]:
    return [(d["kind"], d["ticker"]) for d in result.report["discrepancies"]]


class TestRacingTrades:
    def test_trades_racing_the_pass_and_its_second_looks_are_not_a_mismatch(self, rig_factory: Callable[..., Rig]
                                                                           ) -> None:
        """A trade lands at every read of the full pass and of the first two second looks (the ledger a read
        behind): the pass is clean, nothing trips, and ledger and exchange agree once the bot stops."""
        r = rig_factory()
        r.daemon_trade(T0, "yes", "3", "0.50")
        racer = Racer(r, T0, budget=FULL + 2 * LOOK)
        result = r.reconcile()
        racer.stop()
        assert kinds(result) == [], "the race is not a discrepancy"
        assert result.clean
        assert result.report["unjudged"] == []
        assert racer.trades == FULL + 2 * LOOK, "the bot traded through the whole pass"
        assert r.gate.state is GateState.ACTIVE
        assert r.ledger_positions() == r.exchange_positions() != {}

    def test_a_real_mismatch_is_still_found_while_its_market_trades(self, rig_factory: Callable[..., Rig]) -> None:
        """Five contracts in the ledger that no fill on the exchange explains, in a market trading at every
        read: a quiet read confirms the mismatch, the pass is unclean and it halts; nothing is corrected."""
        r = rig_factory()
        r.ledger.book_fill(FillRecord("phantom-1", None, None, T0, "bid", Decimal(5), Decimal("0.5"), Decimal(0),
                                      True, datetime.now(UTC).timestamp()))
        racer = Racer(r, T0, budget=FULL + 2 * LOOK)
        result = r.reconcile()
        racer.stop()
        assert kinds(result) == [("mismatch", T0)]
        row = result.report["discrepancies"][0]
        assert Decimal(row["ledger"]) - Decimal(row["exchange"]) == 5, row
        assert not result.clean
        assert r.gate.state is GateState.HALTED
        assert r.ledger_positions()[T0] - r.exchange_positions().get(T0, Decimal(0)) == 5, "left alone"

    def test_only_the_disagreeing_market_is_read_again(self, rig_factory: Callable[..., Rig]) -> None:
        """The second look reads the suspect market alone: a quiet account costs no extra reads, a mismatch in
        one market costs a bracketed read of that market only."""
        r = rig_factory()
        r.daemon_trade(T1, "yes", "2", "0.50")
        assert r.reconcile().clean  # the first pass reads the archive too: the next ones compare
        quiet = r.reconcile()
        assert quiet.clean
        r.ledger.book_fill(FillRecord("phantom-2", None, None, T0, "bid", Decimal(1), Decimal("0.5"), Decimal(0),
                                      True, datetime.now(UTC).timestamp()))
        found = r.reconcile()
        assert [k for k in kinds(found) if k[0] == "mismatch"] == [("mismatch", T0)]
        assert found.report["cash"] == "skipped", "no cash look is consistent while positions disagree"
        cash_look = 3  # positions, resting orders, positions (the balance is no list)
        assert found.report["pages"] == quiet.report["pages"] - cash_look + LOOK, "one quiet read of T0 alone"


class TestUnjudged:
    def test_a_market_trading_through_every_read_is_unjudged_then_counts(self, rig_factory: Callable[..., Rig]
                                                                        ) -> None:
        """A market that disagrees on, and trades through, every read is neither cleared nor a mismatch for
        UNJUDGED_PASSES - 1 passes (reported as unjudged, no trip); on the next pass in a row it is a
        mismatch, with its action."""
        r = rig_factory()
        racer = Racer(r, T0, budget=None)
        for n in range(1, UNJUDGED_PASSES):
            result = r.reconcile()
            assert kinds(result) == [], n
            assert result.report["unjudged"] == [T0]
            assert f"unjudged (traded through every read): {T0}" in result.report["summary"]
            assert r.gate.state is GateState.ACTIVE
        result = r.reconcile()
        racer.stop()
        assert kinds(result) == [("mismatch", T0)]
        assert f"every read of {UNJUDGED_PASSES} passes in a row ({TRIES} bracketed reads each)" in \
            result.report["discrepancies"][0]["evidence"]
        assert r.gate.state is GateState.HALTED

    def test_the_count_is_of_passes_in_a_row(self, rig_factory: Callable[..., Rig]) -> None:
        """A pass that judges the market (here: it agrees once the bot pauses) starts the count again."""
        r = rig_factory()
        for _ in range(2):
            racer = Racer(r, T0, budget=None)
            for _ in range(UNJUDGED_PASSES - 1):
                assert r.reconcile().report["unjudged"] == [T0]
            racer.stop()
            result = r.reconcile()
            assert kinds(result) == []
            assert result.report["unjudged"] == []
        assert r.gate.state is GateState.ACTIVE
        assert r.ledger_positions() == r.exchange_positions()


class TestCash:
    def test_cash_waits_for_a_quiet_look_and_then_misses_nothing(self, rig_factory: Callable[..., Rig]) -> None:
        """While the bot trades through every look the cash is not judged (no false discrepancy, the reference
        kept); money moved without a trade meanwhile is found, to the cent, at the first quiet pass."""
        r = rig_factory()
        r.daemon_trade(T1, "yes", "2", "0.40")
        assert r.reconcile().report["cash"] == "checked"
        racer = Racer(r, T0, budget=None)
        r.sim.exchange.account(DEFAULT_ACCOUNT).cash -= Decimal("7.25")
        for _ in range(UNJUDGED_PASSES - 1):
            result = r.reconcile()
            assert result.report["cash"] == "unjudged"
            assert [k for k in kinds(result) if k[0] == "cash"] == []
        racer.stop()
        result = r.reconcile()
        assert result.report["cash"] == "checked"
        assert kinds(result) == [("cash", "*")]
        assert "by -7.25" in result.report["discrepancies"][0]["evidence"]
        assert r.reconcile().clean, "the next pass measures from the new balance"
