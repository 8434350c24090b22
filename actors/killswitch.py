"""The kill switch: the one owner of a stop. The daemon (SIGUSR1, HTTP emergency stop), the supervisor's
escalation and the guardian's triggers all call :meth:`KillSwitch.stop`; nobody else closes the gate for a
stop, halts the trading actors, writes a ``KILL_SWITCH`` row or raises the stop's alert.

A stop, in order, each step recorded with its result and duration (:class:`StopStep`):

1. ``gate_closed`` — the gate goes HALTED: in memory first (one assignment, what the send point reads), then
   persisted (whatever the database says, the memory stays closed). In the caller's thread, before
   :meth:`stop` returns; the step's duration is the in-memory close, its detail the persist.
2. ``work_dropped`` — ``Halt`` to every trading actor of the supervisor tree's own list (``targets``), put
   ahead of what waits in each mailbox; the order placer answers the orders queued there REJECTED
   ``GATE_HALTED`` without sending them. In the caller's thread.
3. ``order_group`` — the daemon's Kalshi order group is triggered: the exchange cancels its orders and
   refuses more fills from them even if our own cancel fails.
4. ``cancel_all`` — one exchange-wide cancel-all; if it fails, the resting orders listed are cancelled one
   by one. The step says how many orders still rest.
5. ``flatten`` (``kill.flatten``) — reduce-only IOC orders close the open positions (``actors.flatten``),
   and the positions are read back from the exchange.
6. ``audit`` — one ``KILL_SWITCH`` activity row with every step; then one CRITICAL alert with what was
   closed, what remains and today's total P&L.

Steps 3–6 run on the kill switch's own thread (one stop at a time; a stop asked for while one runs joins
it), so a busy or dead actor cannot delay them and the HTTP answer does not wait for the flatten. A step
that fails is recorded and the next one runs. The gate stays HALTED until a reset; a flatten that cannot
finish says what is open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from loguru import logger

from kalshi_guard.actors.flatten import FlattenResult, flatten
from kalshi_guard.actors.kill_line import KillLine
from kalshi_guard.actors.messages import Alert, Halt, Severity
from kalshi_guard.core.errors import ExchangeError
from kalshi_guard.core.gate import GateState, TradingGate

log = logger.bind(actor="killswitch")


@dataclass(frozen=True, slots=True)
class StopStep:
    """One step of a stop: its name, whether it did its job, what it found, how long it took."""

    name: str
    ok: bool
    detail: str
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {"step": self.name, "ok": self.ok, "detail": self.detail, "duration_ms": round(self.duration_ms, 3)}


@dataclass
class StopTicket:
    """A stop under way: ``done`` is set when every step has run; ``steps`` grow as they do. Times are
    ``time.perf_counter`` seconds (``tripped`` when :meth:`KillSwitch.stop` was entered)."""

    reason: str
    source: str
    code: str
    tripped: float
    gate_closed: float = 0.0
    halted: tuple[str, ...] = ()
    steps: list[StopStep] = field(default_factory=list)
    flatten: FlattenResult | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every step has run."""
        return self.done.wait(timeout)

    def summary(self) -> dict[str, Any]:
        """JSON-safe: reason, steps, and the flatten's closed/remaining."""
        out: dict[str, Any] = {"reason": self.reason, "source": self.source, "code": self.code,
                               "halted": list(self.halted), "steps": [s.as_dict() for s in self.steps],
                               "done": self.done.is_set()}
        if self.flatten is not None:
            out["closed"] = {t: str(c) for t, c in self.flatten.closed}
            out["remaining"] = None if self.flatten.remaining is None else {
                t: str(n) for t, n in self.flatten.remaining}
        return out


class KillSwitch:
    """The one owner of a stop (see the module docstring). Thread-safe."""

    def __init__(self, gate: TradingGate, peers: Any, services: Mapping[str, Any], *,
                 targets: Callable[[], Iterable[Any]]) -> None:
        self.gate = gate
        self.peers = peers
        self.services = services
        self.targets = targets
        self.group_id: str | None = None
        self.pnl_today: Callable[[], Mapping[str, str]] | None = None  # set by the guardian
        self.last: StopTicket | None = None
        self.stops = 0
        self._lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._line: KillLine | None = None  # the kept connection: a stop never needs a new file descriptor

    # -- the stop -----------------------------------------------------------------------------------

    def stop(self, reason: str, source: str, code: str = "MANUAL", *, wait: float | None = None) -> StopTicket:
        """Stop trading now (see the module docstring); returns the ticket (``wait`` seconds at most for the
        exchange steps). Never raises."""
        tripped = time.perf_counter()
        self.gate.close_nowait(reason, source)  # one assignment: every opening order is refused from here
        gate_closed = time.perf_counter()
        persisted = "persisted"
        try:
            self.gate.close(reason, source)
        except Exception as exc:  # the in-memory gate is closed whatever the database says
            log.critical("gate persist failed during the stop: {!r}", exc)
            persisted = f"NOT persisted ({type(exc).__name__})"
        pending = self.gate.take_pending()  # ours is applied; a SIGUSR1's arriving meanwhile stays for the loop
        if pending is not None and pending != (reason, source):
            self.gate.close_nowait(*pending)
        persisted += f" in {(time.perf_counter() - gate_closed) * 1000:.3f} ms"
        halt = Halt(reason, source)
        halting = time.perf_counter()
        reached, missed = [], []
        for handle in self.targets():
            (reached if handle.tell_first(halt) else missed).append(handle.name)
        dropped = time.perf_counter()
        log.critical("KILL SWITCH [{}]: {} (source {})", code, reason, source)
        with self._lock:
            running = self.last
            if running is not None and not running.done.is_set():
                log.warning("a stop is already under way; this one ({}) joins it", reason)
                ticket = running
            else:
                self.stops += 1
                ticket = StopTicket(reason, source, code, tripped, gate_closed, tuple(reached))
                ticket.steps.append(StopStep("gate_closed", self.gate.state is GateState.HALTED,
                                             f"{self.gate.state.value}, {persisted}", (gate_closed - tripped) * 1000))
                ticket.steps.append(StopStep("work_dropped", not missed, f"halted {reached}" +
                                             (f"; down: {missed}" if missed else ""), (dropped - halting) * 1000))
                self.last = ticket
                threading.Thread(target=self._procedure, args=(ticket,), name="kill-switch", daemon=True).start()
        if wait is not None:
            ticket.wait(wait)
        return ticket

    def reduce(self, reason: str, source: str, code: str) -> None:
        """A trigger whose action is ``reduce``: the gate goes REDUCING (only orders that shrink a position
        pass the send point; a HALTED gate stays HALTED); one ``KILL_SWITCH`` row and a WARNING alert."""
        try:
            self.gate.reduce(reason, source)
        except Exception as exc:
            log.critical("gate persist failed while reducing: {!r}", exc)
        log.warning("KILL SWITCH [{}] reduce-only: {}", code, reason)
        self._audit("KILL_SWITCH", "WARNING", f"reduce-only: {reason}",
                    {"reason": reason, "source": source, "code": code, "action": "reduce"})
        self._alert(Severity.WARNING, "kill switch: reduce-only", (("reason", reason), ("trigger", code)))

    def _procedure(self, ticket: StopTicket) -> None:
        try:
            kill = self._kill_settings()
            self._step(ticket, "order_group", self._trigger_group)
            self._step(ticket, "cancel_all", self._cancel_all)
            if kill is None or kill.flatten:
                self._step(ticket, "flatten", lambda: self._flatten(ticket, kill))
            else:
                ticket.steps.append(StopStep("flatten", True, "off (kill.flatten = false)", 0.0))
            self._finish(ticket)
        except Exception as exc:  # never leave the ticket open
            log.opt(exception=exc).critical("the stop procedure failed: {!r}", exc)
        finally:
            ticket.done.set()

    def _step(self, ticket: StopTicket, name: str, run: Callable[[], tuple[bool, str]]) -> None:
        started = time.perf_counter()
        try:
            ok, detail = run()
        except Exception as exc:
            ok, detail = False, f"failed: {type(exc).__name__}: {str(exc)[:160]}"
        ticket.steps.append(StopStep(name, ok, detail, (time.perf_counter() - started) * 1000))
        (log.info if ok else log.critical)("stop step {}: {} ({})", name, "ok" if ok else "FAILED", detail)

    def _trigger_group(self) -> tuple[bool, str]:
        if self.group_id is None:
            return True, "no order group"
        with self._client_lock:
            client = self._exchange()
            if client is None:
                return False, "no exchange"
            client.trigger_order_group(self.group_id)
        return True, f"group {self.group_id} triggered"

    def _cancel_all(self) -> tuple[bool, str]:
        with self._client_lock:
            client = self._exchange()
            if client is None:
                return False, "no exchange"
            note = "cancel-all sent"
            try:
                if self._line is not None:
                    self._line.cancel_all()  # over the kept connection; once more with the spare descriptor
                else:
                    client.cancel_all_orders()
            except ExchangeError as exc:
                note = f"cancel-all failed ({type(exc).__name__}); cancelling one by one"
                for order in client.list_orders(status="resting"):
                    try:
                        client.cancel_order(order.order_id, market_ticker=order.ticker)
                    except ExchangeError as one:
                        note += f"; {order.order_id}: {type(one).__name__}"
            resting = len(client.list_orders(status="resting"))
        return resting == 0, f"{note}; {resting} orders resting"

    def _flatten(self, ticket: StopTicket, kill: Any) -> tuple[bool, str]:
        with self._client_lock:
            client = self._exchange()
            if client is None:
                return False, "no exchange"
            slippage = kill.flatten_max_slippage if kill is not None else Decimal("0.05")
            attempts = kill.flatten_attempts if kill is not None else 3
            result = flatten(self.gate, client, self.services.ledger, max_slippage=slippage,
                             attempts=attempts)
        ticket.flatten = result
        closed = ", ".join(f"{t} {c}" for t, c in result.closed) or "nothing"
        if result.remaining is None:
            still = "unknown (positions unreadable)"
        else:
            still = ", ".join(f"{t} {n}" for t, n in result.remaining) or "nothing"
        problems = f"; {'; '.join(result.problems)}" if result.problems else ""
        return result.flat, f"closed {closed}; open {still}; {result.orders} orders{problems}"

    def _finish(self, ticket: StopTicket) -> None:
        pnl = self._pnl()
        details = {**ticket.summary(), "pnl_today": pnl, "gate": self.gate.state.value}
        self._audit("KILL_SWITCH", "CRITICAL", f"emergency stop: {ticket.reason}", details)
        fields: list[tuple[str, str]] = [("reason", ticket.reason), ("source", ticket.source), ("trigger", ticket.code)]
        fl = ticket.flatten
        if fl is not None:
            fields.append(("closed", ", ".join(f"{t} {c}" for t, c in fl.closed) or "nothing"))
            fields.append(("still open", "unknown" if fl.remaining is None else
                           (", ".join(f"{t} {n}" for t, n in fl.remaining) or "nothing")))
        fields.append(("total P&L today", pnl.get("total", "unknown")))
        failed = [s.name for s in ticket.steps if not s.ok]
        if failed:
            fields.append(("failed steps", ", ".join(failed)))
        title = f"kill switch: trading halted — closed {len(fl.closed) if fl else 0} positions"
        if fl is not None and not fl.flat:
            title += ", NOT FLAT"
        self._alert(Severity.CRITICAL, title, tuple(fields))

    def _pnl(self) -> dict[str, str]:
        source = self.pnl_today
        if source is None:
            return {}
        try:
            return dict(source())
        except Exception as exc:
            log.error("today's P&L unavailable for the alert: {!r}", exc)
            return {"total": f"unavailable ({type(exc).__name__})"}

    # -- the order group ------------------------------------------------------------------------------

    def ensure_group(self) -> str | None:
        """Start-up: use the configured group (``orders.order_group_id``) or create one (``kill.order_group``).
        A failure is logged and leaves no group (orders then go without one). Returns the group id."""
        settings = self.services.settings
        if settings is None:
            return None
        if settings.orders.order_group_id is not None:
            self.group_id = settings.orders.order_group_id
            return self.group_id
        if not settings.kill.order_group:
            return None
        try:
            with self._client_lock:
                client = self._exchange()
                if client is not None:
                    self.group_id = client.create_order_group(settings.kill.order_group_contracts_limit)
        except ExchangeError as exc:
            log.error("order group not created ({!r}): orders go without one", exc)
        else:
            log.info("order group {} attached to every order", self.group_id)
        return self.group_id

    def reset_group(self) -> str:
        """Reset: reopen the triggered group (or make a new one when that fails). Raises ExchangeError when
        neither works (the reset is then refused)."""
        if self.group_id is None:
            return "no order group"
        with self._client_lock:
            client = self._exchange()
            if client is None:
                return "no exchange"
            try:
                client.reset_order_group(self.group_id)
                return f"group {self.group_id} reset"
            except ExchangeError as exc:
                settings = self.services.settings
                limit = settings.kill.order_group_contracts_limit if settings is not None else Decimal(1_000_000)
                old, self.group_id = self.group_id, client.create_order_group(limit)
                return f"group {old} could not be reset ({type(exc).__name__}); new group {self.group_id}"

    # -- plumbing ---------------------------------------------------------------------------------------

    def _exchange(self) -> Any:
        if self._client is None:
            factory = self.services.exchange_factory
            self._client = factory("killswitch") if factory is not None else None
        return self._client

    def prime(self, clock: Callable[[], float]) -> None:
        """Open the stop's exchange client and its connection now, holding a spare descriptor (a failure to
        connect is logged by the line and retried on the next :meth:`tick`). Never raises."""
        with self._client_lock:
            client = self._exchange()
            if client is not None and self._line is None:
                self._line = KillLine(client, clock)
                self._line.prime()

    def tick(self) -> None:
        """Keep the stop's connection warm (a keep-alive read when idle); never blocks behind a stop."""
        if self._line is not None and self._client_lock.acquire(blocking=False):
            try:
                self._line.tick()
            finally:
                self._client_lock.release()

    def close(self) -> None:
        """Close the exchange client (daemon stop)."""
        with self._client_lock:
            if self._line is not None:
                self._line.close()
                self._line = None
            if self._client is not None:
                self._client.close()
                self._client = None

    def _kill_settings(self) -> Any:
        settings = self.services.settings
        return None if settings is None else settings.kill

    def _audit(self, category: str, level: str, message: str, details: Mapping[str, Any]) -> None:
        ledger = self.services.ledger
        if ledger is None:
            return
        try:
            ledger.log_activity(category, level, message, dict(details))
        except Exception as exc:
            log.critical("could not write the {} row: {!r}", category, exc)

    def _alert(self, severity: Severity, title: str, fields: tuple[tuple[str, str], ...],
               kind: str = "kill_switch") -> None:
        """To the alerter; when it is down, straight into the outbox (routed as the alerter would)."""
        alert = Alert(severity, title, fields, kind=kind)
        handle = self.peers.get("alerter") if self.peers is not None else None
        if handle is None or not handle.tell(alert):
            ledger, settings = self.services.ledger, self.services.settings
            if ledger is not None and settings is not None:
                from kalshi_guard.actors.alerter import queue_alert

                try:
                    queue_alert(ledger, settings.alerts, alert)
                except Exception as exc:
                    log.critical("alert lost ({}): {!r}", title, exc)
