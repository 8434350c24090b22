"""The base class of every supervised actor: heartbeats, exit notices, ``Halt`` and test hooks.

pykka has no supervision (docs/architecture.md §3). This base class makes every death visible to
the supervisor: a failing ``tell`` handler reaches ``on_failure``; a failing ``on_start`` is caught here
(pykka would call neither hook); an unrequested stop (for instance the ``ActorRegistry.stop_all`` that
pykka runs when a handler raises ``BaseException``) reaches ``on_stop``. Each posts an :class:`ExitNotice`
on the supervisor's queue; the supervisor also polls ``is_alive`` and heartbeats, so a notice lost to a
hung thread is still caught.

Subclasses implement :meth:`SupervisedActor.setup`, :meth:`SupervisedActor.handle` and, for trading
actors, :meth:`SupervisedActor.on_halt`. Asks (``ask``) that raise return the error to the caller and
leave the actor alive; tells that raise kill the actor (and the supervisor restarts it).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pykka
from loguru import logger

from kalshi_guard.actors.messages import Crash, CrashHard, Halt, Hang, Ping
from kalshi_guard.actors.services import ServicesCell
from kalshi_guard.core.gate import TradingGate

if TYPE_CHECKING:
    from types import TracebackType

    from kalshi_guard.actors.peers import Peers


class ExitKind(StrEnum):
    """How a child ended."""

    FAILED = "failed"  # a tell handler raised (on_failure)
    START_FAILED = "start_failed"  # on_start raised
    STOPPED = "stopped"  # on_stop ran (requested, or pykka's stop_all after a BaseException)


@dataclass(frozen=True, slots=True)
class ExitNotice:
    """Posted by a dying child on the supervisor's queue."""

    name: str
    epoch: int
    kind: ExitKind
    reason: str


class HeartbeatBoard:
    """Last heartbeat (monotonic seconds) per child and epoch. Plain dict writes: GIL-atomic."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._beats: dict[str, tuple[int, float]] = {}

    def beat(self, name: str, epoch: int) -> None:
        """Record a heartbeat of ``name`` at ``epoch`` now."""
        self._beats[name] = (epoch, self._clock())

    def last(self, name: str, epoch: int) -> float | None:
        """When ``name`` at ``epoch`` last beat, or None (a beat from an older epoch does not count)."""
        entry = self._beats.get(name)
        if entry is None or entry[0] != epoch:
            return None
        return entry[1]


@dataclass(frozen=True)
class ActorContext:
    """Everything a child needs, handed over at (re)start. ``services`` is the tree's
    :class:`~actors.services.ServicesCell` (typed: ``ctx.services.ledger``, ``.settings``, …; a test may
    pass a ``Services`` or a mapping of its fields with only what the actor uses). ``clock`` overrides the
    services' wall clock for one actor."""

    name: str
    epoch: int
    gate: TradingGate
    board: HeartbeatBoard
    exits: queue.Queue[ExitNotice]
    peers: Peers
    services: Any = field(default_factory=ServicesCell)
    clock_override: Callable[[], float] | None = None
    wake: Callable[[], None] = lambda: None  # wakes the supervisor's loop when a notice is posted

    def __init__(self, name: str, epoch: int, gate: TradingGate, board: HeartbeatBoard,
                 exits: queue.Queue[ExitNotice], peers: Peers, services: Any = None, *,
                 clock: Callable[[], float] | None = None, wake: Callable[[], None] = lambda: None) -> None:
        cell = services if isinstance(services, ServicesCell) else ServicesCell(services)
        for key, value in (("name", name), ("epoch", epoch), ("gate", gate), ("board", board), ("exits", exits),
                           ("peers", peers), ("services", cell), ("clock_override", clock), ("wake", wake)):
            object.__setattr__(self, key, value)

    def clock(self) -> float:
        """Wall-clock seconds from the injected clock (the services', unless this context overrides it)."""
        clock = self.clock_override or self.services.current.clock
        return float(clock())


class SupervisedActor(pykka.ThreadingActor):
    """Base of the five actors. Daemon threads: a hung actor must never keep the process alive."""

    use_daemon_thread = True
    trading: bool = False  # trading actors receive Halt and their death suspends the gate

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.log = logger.bind(actor=ctx.name)
        self.halted_reason: str | None = None

    # -- hooks for subclasses ---------------------------------------------------------------------

    def setup(self) -> None:
        """Runs in the actor's thread before the first message. Raising stops the actor (notified)."""

    def teardown(self) -> None:
        """Runs on an orderly stop (and after an unrequested one). Must not raise."""

    def handle(self, message: Any) -> Any:
        """Handle an application message. Raising inside a tell kills the actor (it is restarted)."""
        self.log.warning("dead letter: {} cannot handle {!r}", type(self).__name__, message)
        return None

    def on_halt(self, message: Halt) -> None:
        """A trading actor drops queued order work and refuses new work. Default: remember it."""

    # -- pykka hooks --------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Run :meth:`setup`; on failure post a START_FAILED notice (pykka itself would stay silent)."""
        try:
            self.setup()
        except Exception as exc:
            self._notify(ExitKind.START_FAILED, f"{type(exc).__name__}: {exc}")
            raise
        self.ctx.board.beat(self.ctx.name, self.ctx.epoch)

    def on_receive(self, message: Any) -> Any:
        """Dispatch: heartbeats, Halt and test hooks first, then :meth:`handle`."""
        if isinstance(message, Ping):
            self.ctx.board.beat(self.ctx.name, self.ctx.epoch)
            self.on_tick()
            return None
        if isinstance(message, Halt):
            self.halted_reason = message.reason
            self.on_halt(message)
            self._record_halt(message)
            return None
        if isinstance(message, Crash):
            raise RuntimeError(message.detail)
        if isinstance(message, CrashHard):
            raise SystemExit("CrashHard requested")  # a BaseException: pykka stops every actor
        if isinstance(message, Hang):
            release = message.release
            if isinstance(release, threading.Event):
                release.wait(timeout=3600)
            return None
        return self.handle(message)

    def on_tick(self) -> None:
        """Called at each heartbeat (about once a second); periodic work goes here. Must be quick."""

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """A tell handler raised: tell the supervisor. Never raises."""
        self.log.opt(exception=(exception_type, exception_value, traceback)).error(
            "{} failed: {!r}", self.ctx.name, exception_value
        )
        self._notify(ExitKind.FAILED, f"{getattr(exception_type, '__name__', '?')}: {exception_value}")
        self._safe_teardown()

    def on_stop(self) -> None:
        """Orderly stop, requested or not: tear down and tell the supervisor (which knows which)."""
        self._safe_teardown()
        self._notify(ExitKind.STOPPED, "stopped")

    # -- helpers ------------------------------------------------------------------------------------

    def _record_halt(self, message: Halt) -> None:
        """Audit that this actor took the Halt (one activity row per actor; failures only logged)."""
        self.log.warning("halt received: {} (from {})", message.reason, message.source)
        ledger = self.ctx.services.ledger
        if ledger is None:
            return
        try:
            ledger.log_activity(
                "HALT",
                "WARNING",
                f"{self.ctx.name} halted: {message.reason}",
                {"actor": self.ctx.name, "epoch": self.ctx.epoch, "source": message.source},
            )
        except Exception as exc:
            self.log.error("could not record halt in the ledger: {!r}", exc)

    def _safe_teardown(self) -> None:
        try:
            self.teardown()
        except Exception as exc:  # teardown must not mask the exit
            self.log.error("teardown of {} raised {!r}", self.ctx.name, exc)

    def _notify(self, kind: ExitKind, reason: str) -> None:
        self.ctx.exits.put(ExitNotice(self.ctx.name, self.ctx.epoch, kind, reason))
        self.ctx.wake()
