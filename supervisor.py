"""The root of the tree: starts, watches and restarts the actors; owns the main thread (docs/architecture.md §3).

Not an actor (docs/architecture.md §3): it must survive what kills actors, including pykka's
``stop_all`` after a ``BaseException``. It learns of deaths three ways: exit notices posted by
``actors.base.SupervisedActor``, ``is_alive`` polling, and missed heartbeats (a hung actor). A dead child
is restarted after an exponential backoff with jitter — alone (one-for-one) or with every child started
after it in its rest-for-one group. More than ``max_restarts`` restart incidents within ``window_s``
escalates: the kill switch stops trading (``actors.killswitch``: gate HALTED, Halt, order group, cancel-all,
flatten, one audit row and alert; its exchange steps get ``kill.step_timeout_s``), the tree stops in reverse order and
:meth:`Supervisor.run` returns :data:`EXIT_ESCALATED` so that systemd restarts the process, which then
boots HALTED. Deaths detected in the same tick count as one incident (pykka's ``stop_all`` kills every
actor at once; that is one failure, not five).

While a trading child is down the gate is suspended (NOT_READY); it resumes when every trading child
beats again. A latched HALTED gate is never lifted here.
"""

from __future__ import annotations

import contextlib
import queue
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pykka
from loguru import logger

from kalshi_guard.actors.base import ActorContext, ExitKind, ExitNotice, HeartbeatBoard, SupervisedActor
from kalshi_guard.actors.killswitch import KillSwitch
from kalshi_guard.actors.messages import Alert, Halt, Ping, Severity
from kalshi_guard.actors.peers import ChildHandle, Peers
from kalshi_guard.actors.services import Services, ServicesCell
from kalshi_guard.config.schema import SupervisorSettings
from kalshi_guard.core.gate import TradingGate

EXIT_OK = 0
EXIT_ESCALATED = 3
ESCALATION_STOP_WAIT_S = 10.0  # the stop's exchange steps get this long before the tree stops

log = logger.bind(actor="supervisor")


class Restart(StrEnum):
    """OTP restart types."""

    PERMANENT = "permanent"  # always restarted
    TRANSIENT = "transient"  # restarted only after an abnormal exit
    TEMPORARY = "temporary"  # never restarted


class Strategy(StrEnum):
    """What else restarts with a dead child."""

    ONE_FOR_ONE = "one_for_one"
    REST_FOR_ONE = "rest_for_one"  # and every later child of the same strategy


class ChildStatus(StrEnum):
    """A child's lifecycle as the supervisor sees it."""

    RUNNING = "running"
    BACKOFF = "backoff"  # dead, waiting for its restart time
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to run one child. ``actor`` is started with an :class:`ActorContext`."""

    name: str
    actor: type[SupervisedActor]
    restart: Restart = Restart.PERMANENT
    strategy: Strategy = Strategy.ONE_FOR_ONE
    stop_timeout_s: float = 5.0
    trading: bool | None = None  # a trading child takes Halt and its death suspends the gate; None = the actor's flag

    @property
    def is_trading(self) -> bool:
        """Whether this child is a trading actor (the flag, else the actor class's ``trading``)."""
        return bool(getattr(self.actor, "trading", False)) if self.trading is None else self.trading


@dataclass
class _Child:
    spec: ChildSpec
    handle: ChildHandle
    status: ChildStatus = ChildStatus.STOPPED
    started_at: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    recent: deque[float] = field(default_factory=deque)  # this child's restart times within the window
    last_exit: str = ""
    stopping: bool = False


@dataclass(frozen=True, slots=True)
class ChildStats:
    """One child in :meth:`Supervisor.statistics`."""

    name: str
    status: str
    epoch: int
    restarts: int
    last_exit: str
    alive: bool
    trading: bool


@dataclass(frozen=True, slots=True)
class SupervisorStats:
    """An immutable snapshot of the tree."""

    children: tuple[ChildStats, ...]
    restart_incidents: int
    escalated: bool
    gate: str
    gate_reason: str
    healthy: bool
    dead_letters: int = 0


class Supervisor:
    """Runs the children in ``specs`` (start order = dependency order; stop in reverse)."""

    def __init__(
        self,
        specs: list[ChildSpec],
        gate: TradingGate,
        settings: SupervisorSettings,
        *,
        services: Services | Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.gate = gate
        self.settings = settings
        self.services = ServicesCell(services)  # swapped as a whole (a reload), read by every actor
        self.clock = clock
        self.rng = rng or random.Random()  # jitter only, not cryptographic
        self.wake = wake
        self.exits: queue.Queue[ExitNotice] = queue.Queue()
        self.board = HeartbeatBoard(clock)
        self.peers = Peers([s.name for s in specs])
        self._children = [_Child(s, self.peers[s.name]) for s in specs]
        self._incidents: deque[float] = deque()
        self._incident_total = 0
        self._ping_seq = 0
        self._last_ping = float("-inf")
        self._suspended = False
        self.escalated = False
        self.escalation_reason = ""
        # the one owner of a stop; the actors find it among the services (the guardian's triggers call it)
        existing = self.services.killswitch
        self.killswitch: KillSwitch = existing if existing is not None else KillSwitch(
            gate, self.peers, self.services, targets=self.trading_handles)
        if existing is None:
            self.services.swap(killswitch=self.killswitch)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every child in order. A child that fails to start here raises (start-up fails)."""
        for child in self._children:
            self._spawn(child)
            if not child.handle.is_alive():
                raise RuntimeError(f"child {child.spec.name} failed to start: {self._drain_reason(child)}")

    def stop(self) -> None:
        """Stop children in reverse start order, each within its own timeout; a stuck one is abandoned."""
        for child in reversed(self._children):
            child.stopping = True
            ref = child.handle.ref
            child.status = ChildStatus.STOPPED
            if ref is None:
                continue
            try:
                ref.stop(block=True, timeout=child.spec.stop_timeout_s)
            except pykka.Timeout:
                log.error("{} did not stop within {}s; abandoned", child.spec.name, child.spec.stop_timeout_s)
            except pykka.ActorDeadError:
                pass

    def _spawn(self, child: _Child) -> None:
        handle = child.handle
        handle.epoch += 1
        ctx = ActorContext(
            name=child.spec.name,
            epoch=handle.epoch,
            gate=self.gate,
            board=self.board,
            exits=self.exits,
            peers=self.peers,
            services=self.services,
            wake=self.wake,
        )
        child.stopping = False
        child.started_at = self.clock()
        self.board.beat(child.spec.name, handle.epoch)  # grace: counts from the start
        handle.ref = child.spec.actor.start(ctx)
        child.status = ChildStatus.RUNNING

    def _drain_reason(self, child: _Child) -> str:
        reason = "unknown"
        with contextlib.suppress(queue.Empty):
            while True:
                notice = self.exits.get_nowait()
                if notice.name == child.spec.name:
                    reason = notice.reason
        return reason

    # -- the loop body ----------------------------------------------------------------------------

    def tick(self, block_s: float = 0.0) -> None:
        """One pass: exit notices, liveness, heartbeats, due restarts, gate suspension.

        ``block_s`` > 0 first waits that long at most for an exit notice (the run loop waits on its
        wakeup socket instead); otherwise it never blocks.
        """
        if self.escalated:
            return
        if block_s > 0:
            try:
                first = self.exits.get(timeout=block_s)
            except queue.Empty:
                pass
            else:
                self.exits.put(first)
        now = self.clock()
        dead: dict[str, str] = {}
        while True:
            try:
                notice = self.exits.get_nowait()
            except queue.Empty:
                break
            child = self._child(notice.name)
            if child is None or notice.epoch != child.handle.epoch or child.stopping:
                continue  # an old epoch, or a stop we asked for
            if child.status is ChildStatus.RUNNING:
                dead[notice.name] = f"{notice.kind.value}: {notice.reason}"
        timeout = self.settings.heartbeat_timeout_s
        for child in self._children:
            if child.status is not ChildStatus.RUNNING or child.spec.name in dead:
                continue
            if not child.handle.is_alive():
                dead[child.spec.name] = "not alive (found by polling)"
                continue
            last = self.board.last(child.spec.name, child.handle.epoch)
            if last is not None and now - last > timeout:
                dead[child.spec.name] = f"hung: no heartbeat for {now - last:.1f}s"
        if dead:
            self._on_deaths(dead, now)
            if self.escalated:
                return
        if now - self._last_ping >= self.settings.heartbeat_interval_s:
            self._last_ping = now
            self._ping_seq += 1
            ping = Ping(self._ping_seq)
            for child in self._children:
                if child.status is ChildStatus.RUNNING:
                    child.handle.tell(ping)
        for child in self._children:
            if child.status is ChildStatus.BACKOFF and now >= child.restart_at:
                self._restart(child)
        self._update_suspension()

    def _on_deaths(self, dead: dict[str, str], now: float) -> None:
        self._incidents.append(now)
        self._incident_total += 1
        while self._incidents and now - self._incidents[0] > self.settings.window_s:
            self._incidents.popleft()
        names = ", ".join(f"{n} ({r})" for n, r in dead.items())
        log.error("child death detected: {}", names)
        if len(self._incidents) > self.settings.max_restarts:
            self._escalate(
                f"restart intensity exceeded: {len(self._incidents)} incidents in "
                f"{self.settings.window_s:.0f}s (max {self.settings.max_restarts}); last: {names}"
            )
            return
        to_restart: list[_Child] = []
        for idx, child in enumerate(self._children):
            if child.spec.name not in dead:
                continue
            child.last_exit = dead[child.spec.name]
            to_restart.append(child)
            if child.spec.strategy is Strategy.REST_FOR_ONE:
                to_restart.extend(
                    c for c in self._children[idx + 1 :] if c.spec.strategy is Strategy.REST_FOR_ONE
                )
        seen: set[str] = set()
        for child in to_restart:
            if child.spec.name in seen:
                continue
            seen.add(child.spec.name)
            if child.spec.restart is Restart.TEMPORARY or (
                child.spec.restart is Restart.TRANSIENT and child.spec.name not in dead
            ):
                child.status = ChildStatus.STOPPED
                continue
            self._retire(child)
            while child.recent and now - child.recent[0] > self.settings.window_s:
                child.recent.popleft()
            child.recent.append(now)
            base = min(
                self.settings.backoff_max_s,
                self.settings.backoff_initial_s * (2 ** (len(child.recent) - 1)),
            )
            child.restart_at = now + base * (1 + self.rng.random() * 0.5)
            child.status = ChildStatus.BACKOFF
        self._alert(Severity.WARNING, "actor restarted", (("children", names),))

    def _retire(self, child: _Child) -> None:
        """Make sure the old instance is gone or abandoned: a hung one keeps its (daemon) thread."""
        ref = child.handle.ref
        child.handle.ref = None
        if ref is not None and ref.is_alive():
            child.stopping = True
            with contextlib.suppress(pykka.ActorDeadError):
                ref.stop(block=False)

    def _restart(self, child: _Child) -> None:
        child.restarts += 1
        try:
            self._spawn(child)
        except Exception as exc:  # the constructor itself failed: treat as another death
            log.error("restart of {} raised {!r}", child.spec.name, exc)
            self.exits.put(ExitNotice(child.spec.name, child.handle.epoch, ExitKind.START_FAILED, repr(exc)))
            return
        log.warning("{} restarted (epoch {})", child.spec.name, child.handle.epoch)

    def _update_suspension(self) -> None:
        down = [
            c.spec.name
            for c in self._children
            if c.spec.is_trading and c.status is not ChildStatus.RUNNING
        ]
        if down and not self._suspended:
            self._suspended = True
            self.gate.suspend(f"trading child down: {', '.join(down)}", "supervisor")
        elif not down and self._suspended:
            self._suspended = False
            self.gate.resume("supervisor")

    def _escalate(self, reason: str) -> None:
        self.escalated = True
        self.escalation_reason = reason
        log.critical("ESCALATION: {}", reason)
        settings = self.services.settings
        wait = settings.kill.step_timeout_s if settings is not None else ESCALATION_STOP_WAIT_S
        self.killswitch.stop(f"supervisor escalation: {reason}", "supervisor", "ESCALATION", wait=wait)
        self.stop()

    def next_deadline(self) -> float | None:
        """The clock time of the earliest scheduled restart (the loop sleeps no longer than that)."""
        due = [c.restart_at for c in self._children if c.status is ChildStatus.BACKOFF]
        return min(due) if due else None

    # -- operator actions ---------------------------------------------------------------------------

    def trading_handles(self) -> list[ChildHandle]:
        """The stable handles of the trading children, from the tree's own specs (the kill switch halts these)."""
        return [c.handle for c in self._children if c.spec.is_trading]

    def halt_all(self, reason: str, source: str) -> int:
        """Tell ``Halt`` to every trading child, each independently; returns how many received it."""
        msg = Halt(reason, source)
        return sum(1 for handle in self.trading_handles() if handle.tell(msg))

    def _alert(self, severity: Severity, title: str, fields: tuple[tuple[str, str], ...]) -> None:
        handle = self.peers.get("alerter")
        if handle is not None:
            handle.tell(Alert(severity, title, fields))

    # -- introspection ------------------------------------------------------------------------------

    def _child(self, name: str) -> _Child | None:
        return next((c for c in self._children if c.spec.name == name), None)

    def healthy(self) -> bool:
        """Every child running and beating within the heartbeat timeout."""
        now = self.clock()
        for child in self._children:
            if child.status is not ChildStatus.RUNNING or not child.handle.is_alive():
                return False
            last = self.board.last(child.spec.name, child.handle.epoch)
            if last is None or now - last > self.settings.heartbeat_timeout_s:
                return False
        return not self.escalated

    def statistics(self) -> SupervisorStats:
        """A frozen snapshot: children, restarts, incidents, gate, health."""
        snap = self.gate.snapshot()
        return SupervisorStats(
            children=tuple(
                ChildStats(
                    name=c.spec.name,
                    status=c.status.value,
                    epoch=c.handle.epoch,
                    restarts=c.restarts,
                    last_exit=c.last_exit,
                    alive=c.handle.is_alive(),
                    trading=c.spec.is_trading,
                )
                for c in self._children
            ),
            restart_incidents=self._incident_total,
            escalated=self.escalated,
            gate=snap.state.value,
            gate_reason=snap.reason,
            healthy=self.healthy(),
            dead_letters=sum(c.handle.dead_letters for c in self._children),
        )
