"""Generic JSON webhook channel: one POST per alert, for anything that takes JSON (Slack relays, n8n, …).

Body: ``{"id", "severity", "kind", "title", "fields": {name: value}, "created_at", "incident"}``.
2xx → sent; 408/429/5xx → retried (``Retry-After`` honoured); 401/403/404/410 → permanent; other 4xx →
dropped. The URL is a secret: it is redacted from every detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from kalshi_guard.actors.channels import AlertChannel, Attempt, ChannelLimits, generic_classify
from kalshi_guard.ledger.records import OutboxAlert


class WebhookChannel(AlertChannel):
    """Posts each alert as one JSON object."""

    name = "webhook"
    limits = ChannelLimits(max_alerts=1)

    def build(self, alerts: Sequence[OutboxAlert]) -> dict[str, Any]:
        """The alert as a flat JSON object."""
        (alert,) = alerts
        return {
            "id": alert.id,
            "severity": alert.severity,
            "kind": alert.meta("kind") or "general",
            "title": alert.title,
            "fields": {k: v for k, v in alert.shown_fields},
            "created_at": datetime.fromtimestamp(alert.created_at, UTC).isoformat(),
            "incident": alert.meta("incident") or None,
        }

    def classify(self, response: httpx.Response, ids: tuple[int, ...]) -> Attempt:
        """The common HTTP meaning (see :func:`actors.channels.generic_classify`)."""
        return generic_classify(response, ids)
