"""Specification of the gate's owed writes: a state whose write failed is remembered and written again
until it lands, and a later state written meanwhile settles it. (The real ledger under a held write lock
is in ``tests/e2e/test_killswitch.py``; here the persister is a list that can refuse.)"""

from __future__ import annotations

import pytest

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.core.gate import GateSnapshot, GateState, TradingGate

pytestmark = pytest.mark.timeout(10)


class Store:
    """What the gate persists to: the written snapshots, refusing while ``down``."""

    def __init__(self) -> None:
        self.rows: list[GateSnapshot] = []
        self.down = False

    def __call__(self, snap: GateSnapshot) -> None:
        if self.down:
            raise LedgerError("database or disk is full")
        self.rows.append(snap)


@pytest.fixture
def store_and_gate() -> tuple[Store, TradingGate]:
    store = Store()
    gate = TradingGate(persist=store)
    gate.mark_ready()
    return store, gate


class TestOwedWrites:
    def test_a_halt_whose_write_failed_is_closed_in_memory_and_owed(self, store_and_gate) -> None:
        store, gate = store_and_gate
        store.down = True
        with pytest.raises(LedgerError):
            gate.close("drill", "http")
        assert gate.state is GateState.HALTED
        owed = gate.unsaved()
        assert owed is not None
        assert (owed.state, owed.reason) == (GateState.HALTED, "drill")

    def test_the_owed_halt_is_written_once_the_store_takes_writes(self, store_and_gate) -> None:
        store, gate = store_and_gate
        store.down = True
        with pytest.raises(LedgerError):
            gate.close("drill", "http")
        assert gate.persist_unsaved() is False  # still down: still owed
        assert gate.unsaved() is not None
        store.down = False
        assert gate.persist_unsaved() is True
        assert gate.unsaved() is None
        assert (store.rows[-1].state, store.rows[-1].reason) == (GateState.HALTED, "drill")

    def test_a_later_state_written_meanwhile_settles_the_debt(self, store_and_gate) -> None:
        """A reset that is written after the failed halt is the state the store must hold: the halt is no
        longer owed (writing it later would halt a reset daemon)."""
        store, gate = store_and_gate
        store.down = True
        with pytest.raises(LedgerError):
            gate.close("drill", "http")
        store.down = False
        gate.reset("drill over", "http")
        assert gate.unsaved() is None
        assert gate.persist_unsaved() is True
        assert store.rows[-1].state is GateState.ACTIVE

    def test_nothing_owed_writes_nothing(self, store_and_gate) -> None:
        store, gate = store_and_gate
        written = len(store.rows)
        assert gate.persist_unsaved() is True
        assert len(store.rows) == written
