"""The running daemon: wires config, logs, ledger, gate, exchange, supervisor and control server, then
runs the main loop (signals, ticks, sd_notify). It is the ``ControlPort`` the operator doors talk to.

Start-up order (docs/architecture.md §3): ledger → gate (a latched HALTED survives; an unclean previous run boots
HALTED) → paper-mode simulator → alerter, guardian, reconciler, fill watcher, order placer → control
server → start-up reconciliation → gate opens (unless HALTED) → ``READY=1``. If the start-up
reconciliation fails the gate stays closed and it is retried every few seconds; ``READY=1`` waits for it.
Stop is the reverse, each child with its own timeout, then ``end_run`` (unclean while a gate state is owed).
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from kalshi_guard.actors.messages import (
    EmergencyStop,
    GatePersist,
    LimitsQuery,
    ReconcileResult,
    Reset,
    ResolveOpenOrders,
)
from kalshi_guard.config.schema import Mode, Settings
from kalshi_guard.control.fdlimit import raise_file_limit
from kalshi_guard.control.reconcile_port import ReconcilePort
from kalshi_guard.control.signals import SignalRouter
from kalshi_guard.control.tree import build_tree
from kalshi_guard.core.errors import ConfigError, GateNotHaltedError
from kalshi_guard.core.gate import GateState, TradingGate
from kalshi_guard.exchange.meter import CallMeter
from kalshi_guard.supervisor import EXIT_ESCALATED, EXIT_OK, Supervisor

log = logger.bind(actor="main")
TICK_S = 0.25  # the loop also wakes at once on a signal, an exit notice or a due restart
STARTUP_RECONCILE_RETRY_S = 5.0
# CPython hands the GIL over every 5 ms by default: a busy actor thread could hold off the Python-level
# SIGUSR1 handler (main thread: the persisted close, Halt to every actor) that long. The send point does
# not wait for it (the placer's thread runs the C-level handler, control/signals.py); 0.5 ms keeps the
# rest of the stop prompt too. bench/bench_foundation.py prints both.
GIL_SWITCH_INTERVAL_S = 0.0005
EXIT_REEXEC = -1  # not a process exit code: `kalshi-guard run` re-executes itself (a mode switch)


class Daemon(ReconcilePort):
    """One run of kalshi-guard. :meth:`run` returns the process exit code."""

    def __init__(
        self,
        settings: Settings,
        config_path: Path | None,
        router: SignalRouter,
        *,
        bot: Callable[..., Any] | None = None,
    ) -> None:
        self.settings = settings
        self.bot = bot
        self.bot_stop = threading.Event()
        self.config_path = config_path
        self.router = router
        self.started_at = time.time()
        self.ready = False
        self._next_reconcile = 0.0  # when a failed start-up reconciliation is tried again
        self.switch_to: Any = None  # a Mode the operator switched to: the loop stops and the process re-executes
        self.exchange_info: dict[str, Any] = {}
        self.sup: Supervisor | None = None
        self.gate: TradingGate | None = None
        self.ledger: Any = None
        self._sim: Any = None
        self._server: Any = None
        self._closers: list[Callable[[], Any]] = []

    # -- run ----------------------------------------------------------------------------------------

    def run(self) -> int:
        """Start, loop until a stop signal or escalation, stop. Raises ConfigError for bad config."""
        from kalshi_guard.config.loader import secret_values
        from kalshi_guard.config.paths import ledger_url, state_dir
        from kalshi_guard.control.logs import setup_logging
        from kalshi_guard.control.pidfile import pidfile_path, remove_pidfile, write_pidfile

        settings = self.settings
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        state = state_dir(settings)
        handle = setup_logging(settings, state_dir=state, secrets=secret_values(settings))
        self._closers.append(handle.close)
        self.file_limit = raise_file_limit()  # before anything opens sockets
        pidfile = pidfile_path(state)
        write_pidfile(pidfile)
        self._closers.append(lambda: remove_pidfile(pidfile))
        try:
            from kalshi_guard.ledger.store import Ledger

            self.ledger = Ledger.open(ledger_url(settings), synchronous=settings.ledger.sqlite_synchronous)
            self._closers.append(self.ledger.close)
            from kalshi_guard.control.mode import recorded_mode, settings_for

            chosen = recorded_mode(self.ledger)
            if chosen is not None and chosen is not settings.mode:
                log.warning("the operator switched to {} (recorded in the ledger): trading on that exchange",
                            chosen.value.upper())
                self.settings = settings = settings_for(settings, chosen)
            return self._run_with_ledger(state)
        finally:
            for close in reversed(self._closers):
                with contextlib.suppress(Exception):
                    close()

    def _run_with_ledger(self, state: Path) -> int:
        from kalshi_guard.control.sdnotify import Notifier

        ledger = self.ledger
        unclean = ledger.previous_run_unclean()
        saved = ledger.load_gate()
        self.gate = gate = TradingGate(saved if saved and saved.state is GateState.HALTED else None, ledger.save_gate)
        self.router.attach(gate)
        if unclean and gate.state is not GateState.HALTED:
            gate.close("unclean shutdown of the previous run", "supervisor")
            ledger.log_activity("KILL_SWITCH", "CRITICAL", "booted HALTED: the previous run did not stop cleanly", {})
        elif gate.state is GateState.HALTED:
            log.warning("gate is latched HALTED since before this run: {}", gate.snapshot().reason)
        ledger.begin_run(os.getpid())
        notifier = Notifier()
        notifier.status("starting")
        self._connect_exchange()  # starts the paper simulator when needed
        self.meter = CallMeter()  # every exchange call of every actor: the API error-rate kill switch
        self.sup = sup = build_tree(self.settings, gate, ledger, exchange=self._ex, key=self._key,
                                    buckets=self._buckets, signals=self.router, wake=self.router.wake,
                                    meter=self.meter)
        from kalshi_guard.actors.facade import TradingFacade

        self.trading = TradingFacade(sup.peers, ledger, lambda: self.settings)
        from kalshi_guard.control.backups import BackupScheduler

        backups = BackupScheduler(self.settings, ledger)
        code = EXIT_OK
        try:
            backups.start()
            sup.start()
            sup.killswitch.ensure_group()
            self._start_control(state)
            self._startup_reconcile(notifier)
            code = self._loop(notifier)
        finally:
            self.bot_stop.set()
            backups.stop()
            notifier.stopping("stopping")
            if self._server is not None:
                self._server.stop()
            sup.stop()
            sup.killswitch.close()
            if self._sim is not None:
                self._sim.stop()
            owed = self.gate is not None and not self.gate.persist_unsaved()  # unclean: the next start is HALTED
            ledger.end_run(clean=code == EXIT_OK and not owed)
            log.info("stopped (exit {}){}", code, ", unclean: the gate's last state is not written" if owed else "")
        return code

    def _connect_exchange(self) -> None:
        """Start the paper-mode simulator when needed; load the key and size the request budget."""
        from kalshi_guard.config.endpoints import make_buckets
        from kalshi_guard.exchange.keys import load_private_key

        settings = self.settings
        ex = settings.exchange
        if settings.mode is Mode.PAPER and ex.base_url is None:  # else: an external `kalshi-guard sim`
            from kalshi_guard.config.paths import state_dir
            from kalshi_guard.simulator.server import SimulatorServer

            sim_cfg = settings.simulator
            state = state_dir(settings)
            self._sim = SimulatorServer(
                host=sim_cfg.host,
                port=sim_cfg.port,
                seed=sim_cfg.seed,
                state_file=state / "paper-account.jsonl" if sim_cfg.persist else None,
                key_dir=state / "paper-keys",
                starting_balance=sim_cfg.starting_balance,
                liquidity_interval_s=sim_cfg.liquidity_interval_s or None,
                tick_interval_s=1.0,  # expiries and schedules; once a second keeps the idle daemon quiet
            )
            self._sim.start()
            ex = ex.model_copy(
                update={
                    "base_url": self._sim.rest_url,
                    "ws_url": self._sim.ws_url,
                    "key_id": self._sim.key_id,
                    "private_key_file": Path(self._sim.private_key_path),
                }
            )
            log.info("paper mode: embedded simulator at {} (key id {})", self._sim.rest_url, self._sim.key_id)
        if ex.key_id is None or ex.private_key_file is None:
            raise ConfigError(["exchange.key_id / exchange.private_key_file: required to talk to the exchange"])
        key = load_private_key(ex.private_key_file)
        buckets = make_buckets(ex)  # one budget for the whole process, as Kalshi counts it per key
        self._refine_buckets(ex, key, buckets)
        self._ex, self._key, self._buckets = ex, key, buckets
        self.exchange_info = {
            "environment": ex.environment.value if settings.mode is Mode.LIVE else "simulator",
            "base_url": ex.base_url,
            "ws_url": ex.ws_url,
            "key_id": ex.key_id,
            "private_key_file": str(ex.private_key_file),
        }
        if self._sim is not None and self._sim.admin_token_path is not None:  # the embedded simulator's /_sim
            self.exchange_info["sim_admin_token_file"] = str(self._sim.admin_token_path)

    @staticmethod
    def _refine_buckets(ex: Any, key: Any, buckets: Any) -> None:
        """Size the buckets from ``/account/limits``; keep the configured rates when that fails."""
        from kalshi_guard.config.endpoints import make_client

        try:
            with make_client(ex, key, buckets=buckets) as client:
                buckets.configure_from_limits(client.get_account_limits())
        except Exception as exc:
            log.warning("account limits unavailable, using configured rates: {!r}", exc)

    def _start_control(self, state: Path) -> None:
        from kalshi_guard.control.auth import resolve_token
        from kalshi_guard.control.logs import register_secret
        from kalshi_guard.control.server import ControlServer, limits_for

        token = resolve_token(self.settings, state)
        register_secret(token)
        from kalshi_guard.control.console import mount
        from kalshi_guard.control.openapi import daemon_routes
        from kalshi_guard.control.server import PUBLIC_PATHS

        self.console = console = mount(self, token)
        self._closers.append(console.close)
        self._server = ControlServer(
            self, host=self.settings.control.host, port_number=self.settings.control.port, token=token,
            extra_routes=daemon_routes(self),
            public_paths=PUBLIC_PATHS | console.public_paths,
            limits=limits_for(self.settings.control),
        )
        self._server.start()

    def _startup_reconcile(self, notifier: Any) -> None:
        assert self.sup is not None
        assert self.gate is not None
        result = self._reconcile("start-up")
        if result.ok:
            result = self._resolve_open_orders("start-up")
        self.last_startup_reconcile = None if result.ok else result.summary
        if result.ok:
            self.guardian_caught_up()
            self.gate.mark_ready()
            self.ready = True
            notifier.ready(self._status_line())
            log.info("READY: {} — control API {}", self._status_line(), self._server.url if self._server else "-")
            self._start_bot()
        else:
            notifier.status(f"waiting for start-up reconciliation: {result.summary}")
            self._next_reconcile = time.monotonic() + STARTUP_RECONCILE_RETRY_S

    def _start_bot(self) -> None:
        """Run the in-process bot (``--bot``) in its own thread; its failure is logged, never fatal."""
        if self.bot is None:
            return
        bot = self.bot

        def run_bot() -> None:
            try:
                bot(self.trading, self.bot_stop)
            except Exception:
                log.exception("the in-process bot failed")
            else:
                log.info("the in-process bot finished")

        threading.Thread(target=run_bot, name="bot", daemon=True).start()

    def _resolve_open_orders(self, reason: str) -> ReconcileResult:
        """Settle every non-final ledger order against the exchange before the gate opens."""
        assert self.sup is not None
        try:
            summary = self.sup.peers["fill_watcher"].ask(ResolveOpenOrders(reason), timeout=120)
        except Exception as exc:
            log.error("start-up resolution of open orders failed: {!r}", exc)
            return ReconcileResult(False, f"open orders unresolved: {type(exc).__name__}")
        log.info("{}", summary)
        return ReconcileResult(True, str(summary))

    # -- the main loop ------------------------------------------------------------------------------

    def _loop(self, notifier: Any) -> int:
        assert self.sup is not None
        assert self.gate is not None
        sup, gate, router = self.sup, self.gate, self.router
        wake = router.wakeup_socket
        last_status = ""
        while True:
            deadline = sup.next_deadline()
            wait = TICK_S if deadline is None else max(0.0, min(TICK_S, deadline - sup.clock()))
            with contextlib.suppress(InterruptedError):
                select.select([wake], [], [], wait)
            router.drain()
            pending = gate.take_pending()
            if pending is not None:
                reason, source = pending
                self._emergency(reason, source, via_signal=True)
            if router.stop_requested:
                log.info("stop requested by signal")
                return EXIT_OK
            if router.reload_requested:
                router.reload_requested = False
                self._reload()
            sup.tick()
            if sup.escalated:
                return EXIT_ESCALATED
            if self.switch_to is not None:
                log.warning("switching to {}: stopping to start again on that exchange", self.switch_to.value.upper())
                return EXIT_REEXEC
            if not self.ready and time.monotonic() >= self._next_reconcile:
                self._startup_reconcile(notifier)
            notifier.maybe_watchdog(sup.healthy() and self.ready)
            line = self._status_line()
            if line != last_status:
                notifier.status(line)
                last_status = line

    def _status_line(self) -> str:
        assert self.gate is not None
        assert self.sup is not None
        snap = self.gate.snapshot()
        stats = self.sup.statistics()
        up = sum(1 for c in stats.children if c.alive)
        return f"{self.settings.mode.value.upper()} gate={snap.state.value} children={up}/{len(stats.children)}"

    def _emergency(self, reason: str, source: str, *, via_signal: bool) -> None:
        """The kill switch stops trading (gate persisted HALTED and Halt before this returns; the exchange
        steps on its own thread); the guardian then counts the MANUAL trigger."""
        assert self.sup is not None
        self.sup.killswitch.stop(reason, source, "MANUAL")
        msg = GatePersist(reason, source) if via_signal else EmergencyStop(source, reason)
        self.sup.peers["guardian"].tell(msg)

    def _reload(self) -> None:
        from kalshi_guard.config.loader import reload_changes, validate_reload

        try:
            new = validate_reload(self.config_path)
        except ConfigError as exc:
            log.error("reload refused, old configuration kept: {}", "; ".join(exc.problems))
            with contextlib.suppress(Exception):
                self.ledger.log_activity("CONFIG", "ERROR", "reload refused", {"problems": exc.problems})
            return
        changes = reload_changes(self.settings, new)
        self.settings = self.settings.model_copy(update={"limits": new.limits})
        self.sup.services.swap(settings=self.settings)  # type: ignore[union-attr]  # sup is set once started
        log.info("limits reloaded: {}", ", ".join(changes) or "no change")
        with contextlib.suppress(Exception):
            self.ledger.log_activity("CONFIG", "INFO", "limits reloaded", {"changes": changes})

    # -- ControlPort ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Gate, children, restarts, mode, exchange endpoints and the last kill-switch stop (no secrets)."""
        assert self.gate is not None
        assert self.sup is not None
        snap, stats, stop = self.gate.snapshot(), self.sup.statistics(), self.sup.killswitch.last
        return {
            "mode": self.settings.mode.value,
            "ready": self.ready,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started_at, 1),
            "gate": {"state": snap.state.value, "reason": snap.reason, "source": snap.source,
                     "changed_at": snap.changed_at},
            "children": [
                {"name": c.name, "status": c.status, "alive": c.alive, "epoch": c.epoch, "restarts": c.restarts,
                 "last_exit": c.last_exit, "trading": c.trading}
                for c in stats.children
            ],
            "restart_incidents": stats.restart_incidents,
            "healthy": stats.healthy,
            "exchange": self.exchange_info,
            "limits": self._limit_figures(),
            "startup_reconcile": {"done": self.ready, "reason": self.last_startup_reconcile},
            "last_stop": stop.summary() if stop is not None else None,  # its steps; "done" once all have run
        }

    def switch_mode(self, body: dict[str, Any], source: str) -> dict[str, Any]:
        """One step of the paper/live switch (see :mod:`control.mode`). Raises ``SwitchRefused`` on a refusal.
        An accepted switch closes the gate (the stop cancels resting orders) before it is recorded."""
        from kalshi_guard.control.mode import switch_step

        return switch_step(self, body, source)

    def _limit_figures(self) -> dict[str, Any]:
        """The money limits as configured and in dollars against today's day-start value (a share resolves
        to 0 while no anchor exists), and the open-position cap. A failed anchor read says so."""
        from datetime import UTC, datetime

        from kalshi_guard.config.shares import describe

        limits = self.settings.limits
        try:
            anchor = self.ledger.daily_anchor(datetime.now(UTC).date()) if self.ledger is not None else None
        except Exception as exc:  # the status must answer; the placer refuses orders on the same failure
            return {"error": f"day anchor unreadable ({type(exc).__name__})"}
        resolved = limits.resolved(anchor)
        out: dict[str, Any] = {k: {"setting": str(getattr(limits, k)), "dollars": str(getattr(resolved, k)),
                                   "shown": describe(getattr(limits, k), anchor)}
                               for k in ("max_daily_loss", "max_order_loss")}
        out["max_open_positions"] = limits.max_open_positions
        out["day_start_value"] = None if anchor is None else str(anchor)
        from kalshi_guard.control.rollout import stage_summary

        try:
            out["rollout"] = stage_summary(self.ledger, self.settings, time.time())
        except Exception as exc:  # the status must answer
            out["rollout"] = {"error": f"unreadable ({type(exc).__name__})"}
        return out

    def emergency_stop(self, source: str, reason: str) -> dict[str, Any]:
        """Close and persist the gate before returning, then wake the loop's halt path."""
        assert self.gate is not None
        self._emergency(reason, source, via_signal=False)
        self.router.wake()
        snap = self.gate.snapshot()
        return {"state": snap.state.value, "reason": snap.reason}

    def reset(self, source: str, reason: str) -> dict[str, Any]:
        """Reconcile, then have the guardian lift the gate (it resets the order group, audits and alerts).
        GateNotHaltedError (→ 409) unless HALTED or REDUCING; ReconcileError (→ 409) when not clean."""
        assert self.sup is not None
        assert self.gate is not None
        if not reason or not reason.strip():
            raise ValueError("a reset needs a reason")
        if (state := self.gate.state) not in (GateState.HALTED, GateState.REDUCING):
            raise GateNotHaltedError(f"the gate is {state.value}: nothing to reset")
        self.require_clean(source)
        answer = self.sup.peers["guardian"].ask(Reset(source, reason.strip()), timeout=30)
        self.ready = True
        return answer

    def limits(self) -> list[dict[str, Any]]:
        """Every kill-switch trigger: code, config key, value, limit, distance (``GET /api/limits``)."""
        assert self.sup is not None
        return list(self.sup.peers["guardian"].ask(LimitsQuery(), timeout=10))
