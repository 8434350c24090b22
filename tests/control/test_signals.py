"""Specification of the signal router: real signals, delivered to this process, do only what they must."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from actors.gate import GateState, OrderIntent, TradingGate
from control.signals import SignalRouter


@pytest.fixture
def router() -> Iterator[SignalRouter]:
    r = SignalRouter()
    r.install()
    yield r
    r.uninstall()
    r.close()


def woke(router: SignalRouter) -> bytes:
    """Wait (bounded) for the wakeup socket and return what was written to it."""
    ready, _, _ = select.select([router.wakeup_socket], [], [], 5)
    assert ready, "the wakeup socket never became readable"
    return router.drain()


class TestSignalRouter:
    def test_sigusr1_closes_the_gate_at_once(self, router: SignalRouter) -> None:
        """SIGUSR1 leaves the gate HALTED (refusing opening orders) and wakes the main loop."""
        gate = TradingGate()
        gate.mark_ready()
        router.attach(gate)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert bytes([signal.SIGUSR1]) in woke(router)
        assert gate.state is GateState.HALTED
        assert not gate.allows(OrderIntent.OPENING)
        assert gate.allows(OrderIntent.FLATTEN)
        assert gate.take_pending() == ("emergency stop (SIGUSR1)", "signal")

    def test_sigusr1_before_the_gate_exists_is_applied_on_attach(self, router: SignalRouter) -> None:
        """An emergency stop during start-up is not lost: the gate is born closed."""
        os.kill(os.getpid(), signal.SIGUSR1)
        woke(router)
        gate = TradingGate()
        router.attach(gate)
        gate.mark_ready()
        assert gate.state is GateState.HALTED

    def test_sigterm_and_sigint_request_a_graceful_stop(self, router: SignalRouter) -> None:
        """SIGTERM sets the stop flag; the gate is untouched."""
        gate = TradingGate()
        gate.mark_ready()
        router.attach(gate)
        os.kill(os.getpid(), signal.SIGTERM)
        woke(router)
        assert router.stop_requested
        assert gate.state is GateState.ACTIVE

    def test_sighup_requests_a_reload(self, router: SignalRouter) -> None:
        """SIGHUP sets the reload flag only."""
        os.kill(os.getpid(), signal.SIGHUP)
        woke(router)
        assert router.reload_requested
        assert not router.stop_requested

    def test_wake_from_another_thread(self, router: SignalRouter) -> None:
        """wake() makes the loop's socket readable (the HTTP thread uses it)."""
        router.wake()
        assert woke(router) == b"\0"


class TestSigusr2:
    def test_sigusr2_dumps_every_thread(self) -> None:
        """SIGUSR2 prints a traceback of each thread (faulthandler) and the process keeps running."""
        code = (
            "import os, signal, threading, sys\n"
            "from control.signals import SignalRouter\n"
            "r = SignalRouter(); r.install()\n"
            "ev = threading.Event()\n"
            "t = threading.Thread(target=ev.wait, name='waiter', daemon=True); t.start()\n"
            "os.kill(os.getpid(), signal.SIGUSR2)\n"
            "print('alive', flush=True); ev.set()\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
        assert out.returncode == 0
        assert "alive" in out.stdout
        assert out.stderr.count("hread 0x") >= 2, "the waiter thread and the current thread"


class TestProbe:
    def test_a_sigusr1_byte_refuses_orders_before_the_python_handler_runs(self) -> None:
        """The C-level handler's byte in the wakeup socket is enough for the send point to refuse."""
        router = SignalRouter()  # not installed: we play the C-level handler ourselves
        try:
            gate = TradingGate()
            gate.mark_ready()
            router.attach(gate)
            assert gate.allows(OrderIntent.OPENING)
            router._wsock.send(bytes([signal.SIGUSR1]))
            assert gate.state is GateState.ACTIVE, "the Python handler has not run"
            assert not gate.allows(OrderIntent.OPENING)
            assert gate.allows(OrderIntent.FLATTEN)
            router.drain()
            assert gate.allows(OrderIntent.OPENING)
        finally:
            router.close()

    def test_other_wakeups_do_not_close_the_gate(self) -> None:
        """A SIGHUP byte or a wake() is not an emergency stop."""
        router = SignalRouter()
        try:
            gate = TradingGate()
            gate.mark_ready()
            router.attach(gate)
            router._wsock.send(bytes([signal.SIGHUP]))
            router.wake()
            assert gate.allows(OrderIntent.OPENING)
        finally:
            router.close()
