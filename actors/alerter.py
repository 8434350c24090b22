"""The alerter: every alert goes to the log and into the ledger's outbox, so none is lost to a crash.

Delivery to Discord and PagerDuty reads the outbox (``actors.delivery``) on the alerter's heartbeat, so
a burst of alerts never blocks the actor that raised them. Without a ledger (bare tests) alerts are only
logged.
"""

from __future__ import annotations

from typing import Any

from kalshi_guard.actors.base import SupervisedActor
from kalshi_guard.actors.messages import Alert, Severity

_LEVEL = {Severity.INFO: "INFO", Severity.WARNING: "WARNING", Severity.CRITICAL: "CRITICAL"}


class Alerter(SupervisedActor):
    """Permanent, one-for-one. Receives :class:`Alert` from any actor or the supervisor."""

    def setup(self) -> None:
        """Nothing to open: the ledger is shared and delivery is lazy."""
        self.sent = 0

    def handle(self, message: Any) -> Any:
        """Queue an alert. A ledger failure is logged (and the alert still reaches the log)."""
        if not isinstance(message, Alert):
            return super().handle(message)
        fields = ", ".join(f"{k}={v}" for k, v in message.fields)
        self.log.log(_LEVEL[message.severity], "ALERT [{}] {} {}", message.severity.value, message.title, fields)
        ledger = self.ctx.services.ledger
        if ledger is not None:
            try:
                ledger.enqueue_alert(
                    message.severity.value, message.title, list(message.fields), message.dedup_key
                )
            except Exception as exc:
                self.log.error("could not queue alert in the ledger: {!r}", exc)
        self.sent += 1
        return None
