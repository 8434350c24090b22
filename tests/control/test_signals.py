"""Specification of the signal router: real signals, delivered to this process, do only what they must."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from kalshi_guard.control.signals import SignalRouter
from kalshi_guard.core.errors import GateClosedError
from kalshi_guard.core.gate import GateState, OrderIntent, TradingGate


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


def usr1_blocked() -> bool:
    """Whether the calling thread blocks SIGUSR1."""
    return signal.SIGUSR1 in signal.pthread_sigmask(signal.SIG_BLOCK, [])


class TakerThread:
    """A thread that takes SIGUSR1 (as the order placer's thread does) and waits until released."""

    def __init__(self) -> None:
        self.ready, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        SignalRouter.take_usr1_here()
        self.ready.set()
        self.release.wait(30)

    def stop(self) -> None:
        self.release.set()
        self.thread.join(10)


class TestSignalRouter:
    def test_sigusr1_is_left_to_the_thread_that_takes_it(self, router: SignalRouter) -> None:
        """After install the main thread, and every thread it starts, blocks SIGUSR1; take_usr1_here()
        unblocks it in the calling thread only (the order placer's thread in the daemon)."""
        assert usr1_blocked()
        inherited: list[bool] = []
        plain = threading.Thread(target=lambda: inherited.append(usr1_blocked()))
        plain.start()
        plain.join(10)
        assert inherited == [True]
        taken: list[bool] = []

        def take() -> None:
            SignalRouter.take_usr1_here()
            taken.append(usr1_blocked())

        taker = threading.Thread(target=take)
        taker.start()
        taker.join(10)
        assert taken == [False]
        assert usr1_blocked(), "the main thread is unchanged"

    def test_sigusr1_closes_the_gate_at_once(self, router: SignalRouter) -> None:
        """SIGUSR1, delivered to the taking thread, leaves the gate HALTED (refusing opening orders) and
        wakes the main loop; the Python-level handler runs on the main thread."""
        gate = TradingGate()
        gate.mark_ready()
        router.attach(gate)
        taker = TakerThread()
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            assert bytes([signal.SIGUSR1]) in woke(router)
        finally:
            taker.stop()
        assert gate.state is GateState.HALTED
        assert not gate.allows(OrderIntent.OPENING)
        assert gate.allows(OrderIntent.FLATTEN)
        assert gate.take_pending() == ("emergency stop (SIGUSR1)", "signal")
        assert router.usr1_count == 1

    def test_a_sigusr1_no_thread_takes_stays_pending_until_drain_applies_it(self, router: SignalRouter) -> None:
        """With no taking thread (start-up, a placer being restarted) the signal is not lost: it waits in
        the kernel, and the main loop's drain() takes it and closes the gate."""
        gate = TradingGate()
        gate.mark_ready()
        router.attach(gate)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert signal.SIGUSR1 in signal.sigpending()
        assert gate.state is GateState.ACTIVE
        router.drain()
        assert signal.SIGUSR1 not in signal.sigpending()
        assert gate.state is GateState.HALTED
        assert gate.take_pending() == ("emergency stop (SIGUSR1)", "signal")
        assert router.usr1_count == 1

    def test_sigusr1_before_the_gate_exists_is_applied_on_attach(self, router: SignalRouter) -> None:
        """An emergency stop during start-up is not lost: the gate is born closed."""
        os.kill(os.getpid(), signal.SIGUSR1)
        router.drain()
        gate = TradingGate()
        router.attach(gate)
        gate.mark_ready()
        assert gate.state is GateState.HALTED

    def test_uninstall_restores_the_mask_and_consumes_a_pending_sigusr1(self) -> None:
        """A SIGUSR1 still pending at uninstall is handled, not left to the default action (termination),
        and the main thread's signal mask is as it was."""
        code = (
            "import os, signal\n"
            "from kalshi_guard.control.signals import SignalRouter\n"
            "before = signal.pthread_sigmask(signal.SIG_BLOCK, [])\n"
            "r = SignalRouter(); r.install()\n"
            "os.kill(os.getpid(), signal.SIGUSR1)\n"
            "r.uninstall(); r.close()\n"
            "assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before\n"
            "print('alive', r.usr1_count, flush=True)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["alive", "1"]

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
            "from kalshi_guard.control.signals import SignalRouter\n"
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
            with pytest.raises(GateClosedError) as refused:
                gate.check(OrderIntent.OPENING)
            assert refused.value.state == "HALTED", "the refusal names the state the order really met"
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

    def test_the_probe_keeps_the_interpreter(self) -> None:
        """The send point's probe does not release the GIL: a busy thread cannot get in between the
        check and the send (nor delay the refusal by holding the interpreter)."""
        router = SignalRouter()
        go, stop = threading.Event(), threading.Event()
        ran = [0]

        def busy() -> None:
            go.wait()
            while not stop.is_set():
                ran[0] += 1

        previous = sys.getswitchinterval()
        sys.setswitchinterval(5.0)  # the busy thread gets in only if the probe lets go of the GIL
        worker = threading.Thread(target=busy, daemon=True)
        try:
            worker.start()
            go.set()  # the worker now waits for the interpreter, which this thread holds
            before = ran[0]
            pending = [router.usr1_pending() for _ in range(100)]
            after = ran[0]
        finally:
            stop.set()
            sys.setswitchinterval(previous)
            worker.join(10)
            router.close()
        assert pending == [False] * 100
        assert after == before, "the busy thread ran while the probe was checking"
