"""Specification of the supervisor: deaths of every kind are detected and repaired; storms escalate."""

from __future__ import annotations

import os
import random
import select
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_guard.actors.alerter import Alerter
from kalshi_guard.actors.base import SupervisedActor
from kalshi_guard.actors.fill_watcher import FillWatcher
from kalshi_guard.actors.guardian import Guardian
from kalshi_guard.actors.messages import Crash, CrashHard, Hang, Ping
from kalshi_guard.actors.order_placer import OrderPlacer
from kalshi_guard.actors.reconciler import Reconciler
from kalshi_guard.config.schema import SupervisorSettings
from kalshi_guard.control.signals import SignalRouter
from kalshi_guard.core.gate import GateState, TradingGate
from kalshi_guard.supervisor import ChildSpec, ChildStatus, Strategy, Supervisor


class FakeClock:
    """Monotonic time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


SETTINGS = SupervisorSettings(
    max_restarts=5,
    window_s=60,
    backoff_initial_s=0.5,
    backoff_max_s=4,
    heartbeat_interval_s=1,
    heartbeat_timeout_s=10,
    stop_timeout_s=5,
)


def tree_specs() -> list[ChildSpec]:
    """The five real actors in the order and strategies of docs/architecture.md §3."""
    return [
        ChildSpec("alerter", Alerter),
        ChildSpec("guardian", Guardian),
        ChildSpec("reconciler", Reconciler, strategy=Strategy.REST_FOR_ONE),
        ChildSpec("fill_watcher", FillWatcher, strategy=Strategy.REST_FOR_ONE),
        ChildSpec("order_placer", OrderPlacer, strategy=Strategy.REST_FOR_ONE),
    ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tree(clock: FakeClock) -> Iterator[Supervisor]:
    gate = TradingGate()
    sup = Supervisor(tree_specs(), gate, SETTINGS, clock=clock, rng=random.Random(1))
    sup.start()
    gate.mark_ready()
    yield sup
    sup.stop()


def epochs(sup: Supervisor) -> dict[str, int]:
    return {c.name: c.epoch for c in sup.statistics().children}


def answers(sup: Supervisor, name: str) -> bool:
    """The current instance of ``name`` handles a message (an ask round trip)."""
    sup.peers[name].ask(Ping(0), timeout=5)
    return True


def wait_for_death_and_restart(sup: Supervisor, clock: FakeClock, name: str) -> None:
    """Block until the supervisor sees ``name`` die, then move the fake clock past any backoff."""
    for _ in range(50):
        sup.tick(block_s=5)
        stats = {c.name: c for c in sup.statistics().children}
        if stats[name].status == ChildStatus.BACKOFF.value:
            break
    else:  # pragma: no cover - the assertion below explains
        pytest.fail(f"{name} was never seen dead")
    clock.advance(SETTINGS.backoff_max_s * 2)
    sup.tick()


class TestDeathDetection:
    def test_failing_tell_handler_is_restarted(self, tree: Supervisor, clock: FakeClock) -> None:
        """An exception in a tell handler kills the actor; a new epoch replaces it and handles messages."""
        before = epochs(tree)
        tree.peers["alerter"].tell(Crash("boom"))
        wait_for_death_and_restart(tree, clock, "alerter")
        after = epochs(tree)
        assert after["alerter"] == before["alerter"] + 1
        assert answers(tree, "alerter")
        assert {k: v for k, v in after.items() if k != "alerter"} == {
            k: v for k, v in before.items() if k != "alerter"
        }, "one-for-one: nobody else restarted"

    def test_base_exception_stops_every_actor_and_all_come_back(self, tree: Supervisor, clock: FakeClock) -> None:
        """A BaseException makes pykka stop every actor; the supervisor restarts the whole tree."""
        before = epochs(tree)
        tree.peers["guardian"].tell(CrashHard())
        for _ in range(100):
            tree.tick(block_s=5)
            if all(c.status != ChildStatus.RUNNING.value for c in tree.statistics().children):
                break
        clock.advance(SETTINGS.backoff_max_s * 2)
        tree.tick()
        after = epochs(tree)
        assert all(after[n] > before[n] for n in before)
        assert all(answers(tree, n) for n in after)
        assert not tree.escalated

    def test_hung_actor_is_replaced(self, tree: Supervisor, clock: FakeClock) -> None:
        """An actor that stops answering heartbeats is abandoned and a new instance takes its name."""
        release = threading.Event()
        try:
            tree.peers["fill_watcher"].tell(Hang(release))
            for _ in range(int(SETTINGS.heartbeat_timeout_s) + 2):
                clock.advance(SETTINGS.heartbeat_interval_s)
                tree.tick()
                for name in ("alerter", "guardian", "reconciler", "order_placer"):
                    if tree.peers[name].is_alive():
                        answers(tree, name)  # healthy ones have stamped their beat
            stats = {c.name: c for c in tree.statistics().children}
            assert stats["fill_watcher"].last_exit.startswith("hung")
            clock.advance(SETTINGS.backoff_max_s * 2)
            tree.tick()
            assert answers(tree, "fill_watcher")
        finally:
            release.set()

    def test_failing_on_start_is_detected_and_retried(self, clock: FakeClock) -> None:
        """on_start raising is invisible to pykka's hooks; the base class reports it and the child is retried."""
        failures = {"left": 2}

        class Flaky(SupervisedActor):
            def setup(self) -> None:
                if failures["left"] > 0:
                    failures["left"] -= 1
                    raise RuntimeError("cannot open resource")

        gate = TradingGate()
        # the first start happens before supervision: start with a healthy instance, then make it fail
        failures["left"] = 0
        sup = Supervisor([ChildSpec("flaky", Flaky)], gate, SETTINGS, clock=clock)
        sup.start()
        try:
            failures["left"] = 2
            sup.peers["flaky"].tell(Crash())
            for _ in range(3):  # the crash, then two failed starts
                wait_for_death_and_restart(sup, clock, "flaky")
            stats = sup.statistics().children[0]
            assert stats.last_exit.startswith("start_failed")
            assert answers(sup, "flaky")
            assert stats.restarts == 3
        finally:
            sup.stop()


class TestStrategies:
    def test_rest_for_one_restarts_later_trading_children(self, tree: Supervisor, clock: FakeClock) -> None:
        """A reconciler death restarts the fill watcher and order placer too, but not alerter or guardian."""
        before = epochs(tree)
        tree.peers["reconciler"].tell(Crash())
        wait_for_death_and_restart(tree, clock, "reconciler")
        after = epochs(tree)
        assert after["reconciler"] == before["reconciler"] + 1
        assert after["fill_watcher"] == before["fill_watcher"] + 1
        assert after["order_placer"] == before["order_placer"] + 1
        assert after["alerter"] == before["alerter"]
        assert after["guardian"] == before["guardian"]

    def test_order_placer_death_restarts_only_itself(self, tree: Supervisor, clock: FakeClock) -> None:
        """The last child of the rest-for-one group restarts alone."""
        before = epochs(tree)
        tree.peers["order_placer"].tell(Crash())
        wait_for_death_and_restart(tree, clock, "order_placer")
        after = epochs(tree)
        assert after["order_placer"] == before["order_placer"] + 1
        assert after["fill_watcher"] == before["fill_watcher"]

    def test_gate_refuses_orders_while_a_trading_child_is_down(self, tree: Supervisor, clock: FakeClock) -> None:
        """The gate is NOT_READY between a trading child's death and its replacement, then ACTIVE again."""
        assert tree.gate.state is GateState.ACTIVE
        tree.peers["order_placer"].tell(Crash())
        for _ in range(50):
            tree.tick(block_s=5)
            if tree.gate.state is GateState.NOT_READY:
                break
        assert tree.gate.state is GateState.NOT_READY
        clock.advance(SETTINGS.backoff_max_s * 2)
        tree.tick()
        tree.tick()
        assert tree.gate.state is GateState.ACTIVE

    def test_halted_gate_is_not_reopened_by_recovery(self, tree: Supervisor, clock: FakeClock) -> None:
        """A child's recovery never lifts a latched HALTED gate."""
        tree.gate.close("operator", "test")
        tree.peers["order_placer"].tell(Crash())
        wait_for_death_and_restart(tree, clock, "order_placer")
        tree.tick()
        assert tree.gate.state is GateState.HALTED


class TestEscalation:
    def test_restart_storm_escalates(self, clock: FakeClock) -> None:
        """More than max_restarts incidents in the window closes the gate, stops the tree and escalates."""
        saved = []
        gate = TradingGate(persist=saved.append)
        settings = SETTINGS.model_copy(update={"max_restarts": 2})
        sup = Supervisor(tree_specs(), gate, settings, clock=clock)
        sup.start()
        gate.mark_ready()
        for _ in range(4):
            if sup.escalated:
                break
            epoch = sup.peers["alerter"].epoch
            sup.peers["alerter"].tell(Crash("storm"))
            while not sup.escalated and sup._children[0].status is ChildStatus.RUNNING:
                sup.tick(block_s=5)
            clock.advance(SETTINGS.backoff_max_s * 2)
            sup.tick()
            assert sup.escalated or sup.peers["alerter"].epoch == epoch + 1
        assert sup.escalated
        assert gate.state is GateState.HALTED
        assert saved[-1].state is GateState.HALTED
        assert "restart intensity" in saved[-1].reason
        assert not any(c.alive for c in sup.statistics().children)

    def test_backoff_grows_and_is_jittered(self, clock: FakeClock) -> None:
        """Consecutive restarts of one child wait longer each time, within [base, 1.5 × base]."""
        gate = TradingGate()
        sup = Supervisor([ChildSpec("a", Alerter)], gate, SETTINGS, clock=clock, rng=random.Random(3))
        sup.start()
        try:
            delays = []
            for _ in range(3):
                t0 = clock.now
                sup.peers["a"].tell(Crash())
                for _ in range(50):
                    sup.tick(block_s=5)
                    if sup._children[0].status is ChildStatus.BACKOFF:
                        break
                delays.append(sup._children[0].restart_at - t0)
                clock.advance(10)
                sup.tick()
            for i, d in enumerate(delays):
                base = min(SETTINGS.backoff_max_s, SETTINGS.backoff_initial_s * 2**i)
                assert base <= d <= base * 1.5
        finally:
            sup.stop()


def sigusr1_blocked_in(native_id: int) -> bool:
    """Whether the thread with this kernel id blocks SIGUSR1 (from /proc)."""
    for line in Path(f"/proc/self/task/{native_id}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGUSR1 - 1)))
    raise AssertionError("no SigBlk line")


def placer_thread(sup: Supervisor) -> int:
    """The kernel id of the current order placer's thread (pykka numbers actor threads in start order)."""
    assert answers(sup, "order_placer")
    placers = [t for t in threading.enumerate() if t.name.startswith("OrderPlacer-") and t.is_alive()]
    newest = max(placers, key=lambda t: int(t.name.rsplit("-", 1)[1]))
    assert newest.native_id is not None
    return newest.native_id


class TestEmergencySignalRouting:
    @pytest.fixture
    def routed(self, clock: FakeClock) -> Iterator[tuple[Supervisor, SignalRouter]]:
        router = SignalRouter()
        router.install()
        gate = TradingGate()
        router.attach(gate)
        sup = Supervisor(tree_specs(), gate, SETTINGS, clock=clock, rng=random.Random(1),
                         services={"signals": router})
        sup.start()
        gate.mark_ready()
        yield sup, router
        sup.stop()
        router.uninstall()
        router.close()

    def test_the_placer_thread_takes_sigusr1_and_its_replacement_does_too(
        self, routed: tuple[Supervisor, SignalRouter], clock: FakeClock
    ) -> None:
        """The order placer's thread unblocks SIGUSR1 (the main thread blocks it); a restarted placer's new
        thread takes it again."""
        sup, _ = routed
        first = placer_thread(sup)
        assert not sigusr1_blocked_in(first)
        assert sigusr1_blocked_in(threading.get_native_id())
        sup.peers["order_placer"].tell(Crash())
        wait_for_death_and_restart(sup, clock, "order_placer")
        assert answers(sup, "order_placer")
        second = placer_thread(sup)
        assert second != first
        assert not sigusr1_blocked_in(second)

    def test_a_sigusr1_while_the_placer_is_down_is_not_lost(
        self, routed: tuple[Supervisor, SignalRouter], clock: FakeClock
    ) -> None:
        """Between the placer's death and its replacement nobody may take SIGUSR1; it waits in the kernel
        and the main loop's drain applies it, so the gate ends HALTED."""
        sup, router = routed
        sup.peers["order_placer"].tell(Crash())
        for _ in range(50):
            sup.tick(block_s=5)
            if sup.gate.state is GateState.NOT_READY:
                break
        os.kill(os.getpid(), signal.SIGUSR1)
        router.drain()  # pending in the kernel: applied here
        if sup.gate.state is not GateState.HALTED:  # the dying placer thread took it: its byte wakes us
            select.select([router.wakeup_socket], [], [], 5)
            router.drain()
        assert sup.gate.state is GateState.HALTED
        clock.advance(SETTINGS.backoff_max_s * 2)
        sup.tick()
        assert sup.gate.state is GateState.HALTED, "recovery does not reopen it"


class TestOneKillSwitchPath:
    def test_escalation_stops_through_the_kill_switch_with_one_row(self, clock: FakeClock, tmp_path: Path) -> None:
        """A restart storm stops trading through the kill switch: gate HALTED, the stop's steps run, exactly
        one KILL_SWITCH row (code ESCALATION)."""
        from kalshi_guard.ledger import Ledger

        ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        gate = TradingGate(persist=ledger.save_gate)
        sup = Supervisor(tree_specs(), gate, SETTINGS.model_copy(update={"max_restarts": 1}),
                         services={"ledger": ledger}, clock=clock)
        sup.start()
        gate.mark_ready()
        try:
            for _ in range(4):
                if sup.escalated:
                    break
                sup.peers["alerter"].tell(Crash("storm"))
                while not sup.escalated and sup._children[0].status is ChildStatus.RUNNING:
                    sup.tick(block_s=5)
                clock.advance(SETTINGS.backoff_max_s * 2)
                sup.tick()
            assert sup.escalated
            assert gate.state is GateState.HALTED
            ticket = sup.killswitch.last
            assert ticket is not None
            assert ticket.code == "ESCALATION"
            assert ticket.wait(10)
            rows = ledger.activity("KILL_SWITCH", limit=10)
            assert len(rows) == 1
            assert rows[0].details["code"] == "ESCALATION"
        finally:
            sup.stop()
            ledger.close()

    def test_halt_goes_to_the_trees_trading_children_by_the_spec_flag(self, clock: FakeClock) -> None:
        """The kill switch halts exactly the children whose ChildSpec says trading (the flag overrides the
        actor class's default)."""
        specs = [ChildSpec("alerter", Alerter), ChildSpec("watch", Alerter, trading=True),
                 ChildSpec("order_placer", OrderPlacer, trading=False)]
        sup = Supervisor(specs, TradingGate(), SETTINGS, clock=clock)
        assert [h.name for h in sup.trading_handles()] == ["watch"]
        assert [c.spec.is_trading for c in sup._children] == [False, True, False]
