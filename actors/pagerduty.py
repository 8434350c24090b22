"""PagerDuty Events API v2 channel: CRITICAL triggers an incident, the reset resolves it.

- ``dedup_key`` is the alert's ``_incident`` (one per incident: every CRITICAL alert until the reset shares
  it, so PagerDuty groups them), else ``kalshi-guard-alert-<id>``.
- An alert of kind ``reset`` sends ``resolve`` for its ``_incident``; without one there is nothing to
  resolve and no request is made.
- 202 → sent; 429 and 5xx → retried; 400 (invalid event) → dropped; 401/403/404 → permanent.
- The routing key is in the body only; it is redacted from every detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from kalshi_guard.actors.channels import AlertChannel, Attempt, ChannelLimits, generic_classify
from kalshi_guard.ledger.records import OutboxAlert

SUMMARY_MAX = 1024
PD_SEVERITY = {"info": "info", "warning": "warning", "critical": "critical"}


class PagerDutyChannel(AlertChannel):
    """One event per request (Events v2 has no batch)."""

    name = "pagerduty"
    limits = ChannelLimits(max_alerts=1)

    def __init__(self, url: str, routing_key: str, *, source: str = "kalshi-guard", **kwargs: Any) -> None:
        super().__init__(url, secrets=(routing_key,), **kwargs)
        self._routing_key = routing_key
        self.source = source

    def skip(self, alert: OutboxAlert) -> str | None:
        """A reset with no incident to resolve needs no request."""
        if alert.meta("kind") == "reset" and not alert.meta("incident"):
            return "no open incident to resolve"
        return None

    def build(self, alerts: Sequence[OutboxAlert]) -> dict[str, Any]:
        """A ``trigger`` (or, for a reset, a ``resolve``) event for the one alert."""
        (alert,) = alerts
        dedup = alert.meta("incident") or f"kalshi-guard-alert-{alert.id}"
        if alert.meta("kind") == "reset":
            return {"routing_key": self._routing_key, "event_action": "resolve", "dedup_key": dedup}
        summary = alert.title
        shown = alert.shown_fields
        if shown:
            summary += " — " + ", ".join(f"{k}={v}" for k, v in shown)
        return {
            "routing_key": self._routing_key,
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": summary[: SUMMARY_MAX - 1] + "…" if len(summary) > SUMMARY_MAX else summary,
                "source": self.source,
                "severity": PD_SEVERITY.get(alert.severity, "critical"),
                "timestamp": datetime.fromtimestamp(alert.created_at, UTC).isoformat(),
                "component": "kalshi-guard",
                "class": alert.meta("kind") or "general",
                "custom_details": {k: v for k, v in shown},
            },
            "client": "kalshi-guard",
        }

    def classify(self, response: httpx.Response, ids: tuple[int, ...]) -> Attempt:
        """202/2xx sent; 429/5xx retry; 401/403/404 permanent; other 4xx (invalid event) dropped."""
        return generic_classify(response, ids)
