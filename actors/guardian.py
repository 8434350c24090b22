"""The guardian: the kill switch. Owns manual emergency stop and reset (DESIGN §5).

On a stop it closes the gate (persisted; idempotent), tells ``Halt`` to every trading actor through the
stable handles (each tell independent: one dead child never stops the broadcast), asks the exchange to
cancel every resting order through its own client (so a busy order placer cannot delay it), writes a
``KILL_SWITCH`` activity row and raises a CRITICAL alert. The gate stays HALTED until :class:`Reset`.
"""

from __future__ import annotations

from typing import Any

from actors.base import SupervisedActor
from actors.messages import Alert, EmergencyStop, GatePersist, Halt, Reset, Severity

TRADING_CHILDREN = ("reconciler", "fill_watcher", "order_placer")


class Guardian(SupervisedActor):
    """Permanent, one-for-one."""

    def setup(self) -> None:
        """Open the guardian's own exchange client, when the daemon has an exchange."""
        factory = self.ctx.services.get("exchange_factory")
        self.client = factory("guardian") if factory is not None else None
        self.stops = 0

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
        return super().handle(message)

    def emergency_stop(self, reason: str, source: str) -> None:
        """Halt everything. Each step is independent; a failing step is logged and alerted, never fatal."""
        self.stops += 1
        snap = self.ctx.gate.close(reason, source)
        self.log.critical("KILL SWITCH: {} (source {})", reason, source)
        halt = Halt(reason, source)
        reached = [name for name in TRADING_CHILDREN if name in self.ctx.peers and self.ctx.peers[name].tell(halt)]
        cancelled = self._cancel_all()
        ledger = self.ctx.services.get("ledger")
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
        ledger = self.ctx.services.get("ledger")
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
