"""The trading gate: one shared object that every order-creating request must pass (docs/architecture.md §5).

States (``GateState``):

- ``NOT_READY`` — start-up; nothing may be sent.
- ``ACTIVE`` — normal trading.
- ``REDUCING`` — only exposure-reducing orders (and cancels).
- ``HALTED`` — cancels and the guardian's own reduce-only flatten orders; nothing else. Latched: it
  survives restarts (persisted; a write that failed — a full disk, a database outage — is owed and
  written again by :meth:`TradingGate.persist_unsaved`, which the guardian calls) and is lifted only by
  :meth:`TradingGate.reset` with a reason.

Closing is one attribute assignment (:meth:`TradingGate.close_nowait`), safe inside a signal handler: no
locks, no logging, no I/O. The persisted write happens afterwards, on the main loop or in the guardian
(:meth:`TradingGate.close`). Cancels never consult the gate.

The Python-level SIGUSR1 handler runs on the main thread once it holds the GIL, which busy actor threads
can delay by milliseconds. So the send point also asks a *probe* (``control.signals.SignalRouter``
peeks at the wakeup socket, which the C-level handler writes at once, without the GIL, and in the order
placer's own thread — SIGUSR1 is delivered there): a SIGUSR1 that has arrived but whose Python handler
has not run yet already refuses opening orders.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from kalshi_guard.core.errors import GateClosedError


class GateState(StrEnum):
    """The gate's states; see the module docstring."""

    NOT_READY = "NOT_READY"
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class OrderIntent(StrEnum):
    """What an order does to exposure, as the send point tells the gate."""

    OPENING = "opening"  # adds or may add exposure
    REDUCING = "reducing"  # strictly reduces an existing position
    FLATTEN = "flatten"  # the guardian's own reduce-only emergency exit


@dataclass(frozen=True, slots=True)
class GateSnapshot:
    """The gate as persisted: state, why, who, and when (Unix seconds)."""

    state: GateState
    reason: str
    source: str
    changed_at: float


Persister = Callable[[GateSnapshot], None]


class TradingGate:
    """The single trading gate, shared by reference between the supervisor and every actor.

    ``persist`` is called (outside any signal handler) with each new snapshot; if it raises, the
    in-memory state stays as set — closing never waits for, or depends on, the database.
    """

    def __init__(
        self,
        initial: GateSnapshot | None = None,
        persist: Persister | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        snap = initial or GateSnapshot(GateState.NOT_READY, "starting", "supervisor", clock())
        # _state is the one attribute read at the send point; a plain assignment changes it atomically.
        self._state: GateState = snap.state
        self._snapshot = snap
        self._pending: tuple[str, str] | None = None
        self._persist = persist
        self._clock = clock
        self._lock = threading.Lock()
        self._probe: Callable[[], bool] | None = None
        self._unsaved: GateSnapshot | None = None  # the newest snapshot whose write failed

    def set_probe(self, probe: Callable[[], bool] | None) -> None:
        """Install a lock-free check that reports an emergency stop not yet applied (see module doc)."""
        self._probe = probe

    # -- reading ----------------------------------------------------------------------------------

    @property
    def state(self) -> GateState:
        """The current state (lock-free read)."""
        return self._state

    def snapshot(self) -> GateSnapshot:
        """The last persisted-or-set snapshot; the state field is always the live one."""
        snap = self._snapshot
        if snap.state is not self._state:
            reason, source = self._pending or ("closed", "signal")
            return GateSnapshot(self._state, reason, source, snap.changed_at)
        return snap

    def _effective(self) -> GateState:
        """The state an order meets now: HALTED as soon as the probe sees an emergency stop."""
        state = self._state
        if state is not GateState.HALTED and self._probe is not None and self._probe():
            return GateState.HALTED
        return state

    @staticmethod
    def _permits(state: GateState, intent: OrderIntent) -> bool:
        if state is GateState.ACTIVE:
            return True
        if state is GateState.REDUCING:
            return intent is not OrderIntent.OPENING
        if state is GateState.HALTED:
            return intent is OrderIntent.FLATTEN
        return False

    def allows(self, intent: OrderIntent) -> bool:
        """Whether an order with this intent may leave the process right now."""
        return self._permits(self._effective(), intent)

    def check(self, intent: OrderIntent) -> None:
        """Raise :class:`GateClosedError` unless :meth:`allows` ``intent``. Called at the send point. A
        refusal by the probe (a SIGUSR1 whose Python handler has not run yet) says HALTED, as it will be."""
        state = self._effective()
        if not self._permits(state, intent):
            snap = self.snapshot()
            if state is not snap.state:
                raise GateClosedError(state.value, "emergency stop (SIGUSR1)")
            raise GateClosedError(snap.state.value, snap.reason)

    # -- closing ----------------------------------------------------------------------------------

    def close_nowait(self, reason: str = "emergency stop (SIGUSR1)", source: str = "signal") -> None:
        """Close the gate from a signal handler: two assignments, no lock, no I/O, no logging.

        The caller must later call :meth:`take_pending` / :meth:`close` to persist the change.
        """
        self._pending = (reason, source)
        self._state = GateState.HALTED

    def take_pending(self) -> tuple[str, str] | None:
        """Return and clear a lock-free close that has not been persisted yet (main loop use)."""
        pending, self._pending = self._pending, None
        return pending

    def close(self, reason: str, source: str) -> GateSnapshot:
        """Close to HALTED and persist. Idempotent: an already-HALTED gate keeps its first reason.

        A persist failure is re-raised after the in-memory gate is closed (fail closed).
        """
        self._state = GateState.HALTED
        with self._lock:
            if self._snapshot.state is GateState.HALTED:
                return self._snapshot
            snap = GateSnapshot(GateState.HALTED, reason, source, self._clock())
            self._snapshot = snap
        self._write(snap)
        return snap

    def reduce(self, reason: str, source: str) -> GateSnapshot:
        """Move ACTIVE → REDUCING (a HALTED gate stays HALTED)."""
        with self._lock:
            if self._state is GateState.HALTED:
                return self._snapshot
            snap = GateSnapshot(GateState.REDUCING, reason, source, self._clock())
            self._state = GateState.REDUCING
            self._snapshot = snap
        self._write(snap)
        return snap

    # -- opening ----------------------------------------------------------------------------------

    def mark_ready(self, source: str = "supervisor") -> GateSnapshot:
        """End of start-up: NOT_READY → ACTIVE. A latched HALTED (or REDUCING) gate is left as it is."""
        with self._lock:
            if self._state is not GateState.NOT_READY:
                return self.snapshot()
            snap = GateSnapshot(GateState.ACTIVE, "start-up complete", source, self._clock())
            self._state = GateState.ACTIVE
            self._snapshot = snap
        self._write(snap)
        return snap

    def suspend(self, reason: str, source: str) -> GateSnapshot:
        """A trading child is down or catching up: ACTIVE/REDUCING → NOT_READY (HALTED stays)."""
        with self._lock:
            if self._state in (GateState.HALTED, GateState.NOT_READY):
                return self.snapshot()
            snap = GateSnapshot(GateState.NOT_READY, reason, source, self._clock())
            self._state = GateState.NOT_READY
            self._snapshot = snap
        self._write(snap)
        return snap

    def resume(self, source: str) -> GateSnapshot:
        """Children are healthy again: NOT_READY → ACTIVE unless latched HALTED."""
        return self.mark_ready(source)

    def reset(self, reason: str, source: str) -> GateSnapshot:
        """Lift HALTED (or REDUCING) to ACTIVE. ``reason`` must be non-empty; the caller audits it.

        Raises ``ValueError`` for an empty reason; nothing changes then.
        """
        if not reason or not reason.strip():
            raise ValueError("a reset needs a reason")
        with self._lock:
            self._pending = None
            snap = GateSnapshot(GateState.ACTIVE, reason.strip(), source, self._clock())
            self._state = GateState.ACTIVE
            self._snapshot = snap
        self._write(snap)
        return snap

    def unsaved(self) -> GateSnapshot | None:
        """The newest snapshot whose write failed and that no later write has replaced (None: all saved)."""
        return self._unsaved

    def persist_unsaved(self) -> bool:
        """Write the newest unsaved snapshot again (a stop during a full disk or a database outage must
        still hold after a restart). True when it is written (or nothing was owed); False when the write
        failed again. Never raises."""
        snap = self._unsaved
        if snap is None:
            return True
        try:
            self._write(snap)
        except Exception:
            return False
        return True

    def _write(self, snap: GateSnapshot) -> None:
        """Persist ``snap``; on failure it is remembered as owed (:meth:`persist_unsaved`) and the error
        re-raised. A later snapshot written successfully settles the debt."""
        if self._persist is None:
            return
        try:
            self._persist(snap)
        except Exception:
            with self._lock:
                if self._unsaved is None or self._unsaved.changed_at <= snap.changed_at:
                    self._unsaved = snap
            raise
        with self._lock:
            if self._unsaved is not None and self._unsaved.changed_at <= snap.changed_at:
                self._unsaved = None
