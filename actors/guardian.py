"""The guardian: the kill switch. Owns manual emergency stop and reset (docs/architecture.md §5), and trips on its own
when a limit breaks: daily loss (realised, net of fees, from the ledger), consecutive losing trades, API
error rate over a sliding window (with a minimum sample), an orphaned fill or a position mismatch
reported by the reconciler or the fill watcher, and a balance drop against the day-start anchor.

On a stop it closes the gate (persisted; idempotent), tells ``Halt`` to every trading actor through the
stable handles (each tell independent: one dead child never stops the broadcast), asks the exchange to
cancel every resting order through its own client (so a busy order placer cannot delay it), writes a
``KILL_SWITCH`` activity row and raises a CRITICAL alert. The gate stays HALTED until :class:`Reset`.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.base import SupervisedActor
from kalshi_guard.actors.messages import (
    Alert,
    ApiError,
    ApiSuccess,
    BalanceObserved,
    Discrepancy,
    DiscrepancyKind,
    EmergencyStop,
    FillBooked,
    GatePersist,
    Halt,
    Reset,
    Severity,
)
from kalshi_guard.core import observe
from kalshi_guard.core.gate import GateState

TRADING_CHILDREN = ("reconciler", "fill_watcher", "order_placer")
PNL_RESEED_S = 10.0


class Guardian(SupervisedActor):
    """Permanent, one-for-one."""

    def setup(self) -> None:
        """Open the guardian's own exchange client, when the daemon has an exchange."""
        factory = self.ctx.services.exchange_factory
        self.client = factory("guardian") if factory is not None else None
        self.stops = 0
        self.api_calls: deque[tuple[float, int, int]] = deque()  # (when, calls, of which failed) per report
        self.api_totals = [0, 0]  # calls and failures inside the window, kept as reports enter and leave
        self.losing_streak = 0
        self.pnl_day: Any = None  # the UTC day the running P&L below belongs to
        self.pnl_today = Decimal(0)  # realised, net of fees: seeded from the ledger, then kept from FillBooked

    def teardown(self) -> None:
        """Close the client."""
        if self.client is not None:
            self.client.close()

    def handle(self, message: Any) -> Any:
        """Emergency stops (tell) and resets (ask: returns the new gate snapshot as a dict)."""
        if isinstance(message, EmergencyStop | GatePersist):
            self.emergency_stop(message.reason, message.source)
            return None
        if isinstance(message, Reset):
            return self.reset(message)
        if isinstance(message, ApiSuccess):
            self._api(False, message.count)
        elif isinstance(message, ApiError):
            self._api(True)
        elif isinstance(message, FillBooked):
            self._fill(message)
        elif isinstance(message, Discrepancy):
            self._discrepancy(message)
        elif isinstance(message, BalanceObserved):
            self._balance(message.balance)
        else:
            return super().handle(message)
        return None

    # -- the automatic switches -------------------------------------------------------------------

    @property
    def _limits(self) -> Any:
        settings = self.ctx.services.settings
        return settings.limits if settings is not None else None

    def on_tick(self) -> None:
        """Re-seed the day's P&L from the ledger every ten seconds (fills booked by start-up resolution or
        for untracked orders send no FillBooked)."""
        ledger = self.ctx.services.ledger
        now = time.monotonic()
        if ledger is None or now - getattr(self, "_seeded_at", 0.0) < PNL_RESEED_S:
            return
        self._seeded_at = now
        today = datetime.now(UTC).date()
        try:
            self.pnl_day, self.pnl_today = today, ledger.daily_realized_pnl(today)
        except Exception as exc:
            self.log.error("could not read today's P&L: {!r}", exc)
            return
        limits = self._limits
        if limits is not None and -self.pnl_today >= limits.max_daily_loss:
            self._trip("daily_loss", f"realised P&L today {self.pnl_today} (limit -{limits.max_daily_loss})")

    def _trip(self, switch: str, reason: str) -> None:
        if self.ctx.gate.state is GateState.HALTED:
            return
        self.emergency_stop(f"{switch}: {reason}", f"guardian:{switch}")

    def _api(self, failed: bool, count: int = 1) -> None:
        limits = self._limits
        if limits is None:
            return
        now = self.ctx.clock()  # the actors' injectable clock
        totals = self.api_totals
        self.api_calls.append((now, count, count if failed else 0))
        totals[0] += count
        totals[1] += count if failed else 0
        while self.api_calls and now - self.api_calls[0][0] > limits.api_error_window_s:
            _, gone, gone_failed = self.api_calls.popleft()
            totals[0] -= gone
            totals[1] -= gone_failed
        calls, errors = totals
        if calls >= limits.api_error_min_calls and Decimal(errors) / Decimal(calls) > limits.max_api_error_rate:
            self._trip("api_error_rate", f"{errors}/{calls} exchange calls failed in {limits.api_error_window_s}s")

    def _fill(self, msg: FillBooked) -> None:
        limits = self._limits
        ledger = self.ctx.services.ledger
        if limits is None or ledger is None:
            return
        if msg.realized_pnl < 0:
            self.losing_streak += 1
        elif msg.realized_pnl > 0:
            self.losing_streak = 0
        if self.losing_streak >= limits.max_consecutive_losses:
            self._trip("consecutive_losses", f"{self.losing_streak} losing trades in a row")
            return
        today = datetime.now(UTC).date()
        if self.pnl_day != today:  # first fill of the day (or of this instance): the ledger already has it
            self.pnl_day, self.pnl_today = today, ledger.daily_realized_pnl(today)
        else:
            self.pnl_today += msg.realized_pnl - msg.fee
        pnl = self.pnl_today
        if -pnl >= limits.max_daily_loss:
            self._trip("daily_loss", f"realised P&L today {pnl} (limit -{limits.max_daily_loss})")

    def _discrepancy(self, msg: Discrepancy) -> None:
        observe.emit("discrepancy", kind=msg.kind.value)
        if msg.kind is DiscrepancyKind.GHOST:
            self._alert(Severity.WARNING, "ghost position", (("ticker", msg.ticker), ("detail", msg.detail)))
            return
        self._trip(msg.kind.value, f"{msg.ticker}: {msg.detail}")

    def _balance(self, balance: Decimal) -> None:
        limits = self._limits
        ledger = self.ctx.services.ledger
        if limits is None or ledger is None:
            return
        anchor = ledger.set_daily_anchor(datetime.now(UTC).date(), balance)
        if anchor > 0 and (anchor - balance) / anchor >= limits.max_balance_drop:
            self._trip("balance_drop", f"balance {balance} is {(anchor - balance) / anchor:.1%} below "
                       f"the day-start {anchor}")

    def emergency_stop(self, reason: str, source: str) -> None:
        """Halt everything. Each step is independent; a failing step is logged and alerted, never fatal."""
        self.stops += 1
        snap = self.ctx.gate.close(reason, source)
        self.log.critical("KILL SWITCH: {} (source {})", reason, source)
        halt = Halt(reason, source)
        reached = [name for name in TRADING_CHILDREN if name in self.ctx.peers and self.ctx.peers[name].tell(halt)]
        cancelled = self._cancel_all()
        ledger = self.ctx.services.ledger
        details = {
            "reason": reason,
            "source": source,
            "halted": reached,
            "cancel_all": cancelled,
            "gate_since": snap.changed_at,
        }
        if ledger is not None:
            try:
                ledger.log_activity("KILL_SWITCH", "CRITICAL", f"emergency stop: {reason}", details)
            except Exception as exc:
                self.log.critical("could not write KILL_SWITCH row: {!r}", exc)
        self._alert(
            Severity.CRITICAL,
            "kill switch: trading halted",
            (("reason", reason), ("source", source), ("cancel_all", cancelled)),
        )

    def _cancel_all(self) -> str:
        if self.client is None:
            return "no exchange"
        try:
            self.client.cancel_all_orders()
        except Exception as exc:
            self.log.critical("cancel-all failed: {!r}", exc)
            return f"failed: {type(exc).__name__}"
        return "ok"

    def reset(self, message: Reset) -> dict[str, Any]:
        """Lift the gate (the caller has already passed a clean reconciliation). Raises ValueError on an
        empty reason; nothing changes then."""
        before = self.ctx.gate.snapshot()
        snap = self.ctx.gate.reset(message.reason, message.source)
        ledger = self.ctx.services.ledger
        if ledger is not None:
            ledger.log_activity(
                "RESET",
                "WARNING",
                f"gate reset by {message.source}: {message.reason}",
                {"from": before.state.value, "previous_reason": before.reason, "source": message.source},
            )
        self._alert(Severity.WARNING, "kill switch reset: trading resumed", (("reason", message.reason),))
        return {"state": snap.state.value, "reason": snap.reason, "source": snap.source}

    def _alert(self, severity: Severity, title: str, fields: tuple[tuple[str, str], ...]) -> None:
        handle = self.ctx.peers.get("alerter")
        if handle is not None:
            handle.tell(Alert(severity, title, fields))
