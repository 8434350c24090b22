"""Ledger part: the alert outbox, with delivery state per channel (discord, pagerduty).

An alert is one ``alert_outbox`` row plus one ``alert_delivery`` row per channel, so a Discord success never
hides a PagerDuty failure. A delivery is ``PENDING`` → ``SENT``, or ``FAILED`` (retried from
``next_attempt_at``) until ``max_attempts`` failures are recorded, then ``GIVEN_UP`` (never retried).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger.activity import ActivityMixin
from kalshi_guard.ledger.records import DeliveryStatus, OutboxAlert
from kalshi_guard.ledger.schema import AlertRow, DeliveryRow
from kalshi_guard.ledger.types import to_utc

CHANNELS = ("discord", "pagerduty")
DEFAULT_MAX_ATTEMPTS = 10
_ERROR_LIMIT = 500


def default_channels(severity: str) -> tuple[str, ...]:
    """Discord for every alert; PagerDuty too when the severity is ``critical``."""
    return CHANNELS if str(severity).lower() == "critical" else ("discord",)


class OutboxMixin(ActivityMixin):
    """Alert outbox methods of :class:`ledger.store.Ledger`."""

    def enqueue_alert(
        self,
        severity: str,
        title: str,
        fields: Sequence[tuple[str, str]],
        dedup_key: str | None = None,
        *,
        channels: Sequence[str] | None = None,
    ) -> int:
        """Put an alert in the outbox for each channel (default: :func:`default_channels`) and return its id.

        With a ``dedup_key`` already held by an alert still pending or failing on some channel, nothing is
        added and that alert's id is returned. Raises ``LedgerError`` (nothing written) for an unknown
        channel, no channel, or a database failure.
        """
        chans = tuple(dict.fromkeys(channels if channels is not None else default_channels(severity)))
        if not chans or any(c not in CHANNELS for c in chans):
            raise LedgerError(f"alert channels must be a non-empty subset of {CHANNELS}, got {chans}")
        pairs = [[str(k), str(v)] for k, v in fields]
        with self._write("enqueue_alert") as s:
            now = self._now()
            if dedup_key is not None:
                existing = s.scalar(
                    select(AlertRow.id)
                    .join(DeliveryRow, DeliveryRow.alert_id == AlertRow.id)
                    .where(
                        AlertRow.dedup_key == dedup_key,
                        DeliveryRow.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]),
                    )
                    .order_by(AlertRow.id)
                    .limit(1)
                )
                if existing is not None:
                    return int(existing)
            row = AlertRow(created_at=now, severity=str(severity), title=title, fields=pairs, dedup_key=dedup_key)
            s.add(row)
            s.flush()
            for c in chans:
                s.add(DeliveryRow(alert_id=row.id, channel=c, status=DeliveryStatus.PENDING.value, attempts=0,
                                  next_attempt_at=now, last_error=None, sent_at=None))
            return row.id

    def due_alerts(self, channel: str, now: float | datetime, limit: int = 50) -> list[OutboxAlert]:
        """Alerts pending or failed on ``channel`` whose next attempt is due at ``now``, oldest first.

        Raises ``LedgerError`` when the database cannot be read.
        """
        q = (
            select(AlertRow, DeliveryRow)
            .join(DeliveryRow, DeliveryRow.alert_id == AlertRow.id)
            .where(
                DeliveryRow.channel == channel,
                DeliveryRow.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]),
                DeliveryRow.next_attempt_at <= to_utc(now),
            )
            .order_by(AlertRow.id)
            .limit(max(0, int(limit)))
        )
        with self._read("due_alerts") as s:
            return [
                OutboxAlert(
                    id=a.id, channel=d.channel, severity=a.severity, title=a.title,
                    fields=tuple((str(k), str(v)) for k, v in a.fields), dedup_key=a.dedup_key,
                    created_at=a.created_at.timestamp(), attempts=d.attempts, last_error=d.last_error,
                )
                for a, d in s.execute(q).all()
            ]

    def _delivery(self, s: object, alert_id: int, channel: str) -> DeliveryRow:
        row = s.get(DeliveryRow, (alert_id, channel), with_for_update=True)  # type: ignore[attr-defined]
        if row is None:
            raise LedgerError(f"no delivery of alert {alert_id} on channel {channel!r}")
        found: DeliveryRow = row
        return found

    def mark_alert_sent(self, alert_id: int, channel: str) -> None:
        """Record that ``channel`` delivered the alert. Raises ``LedgerError`` for an unknown delivery."""
        with self._write("mark_alert_sent") as s:
            row = self._delivery(s, alert_id, channel)
            row.status = DeliveryStatus.SENT.value
            row.attempts += 1
            row.sent_at = self._now()

    def mark_alert_failed(
        self,
        alert_id: int,
        channel: str,
        error: str,
        retry_at: float | datetime,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> DeliveryStatus:
        """Record a failed attempt; return ``FAILED`` (retry at ``retry_at``) or ``GIVEN_UP`` at ``max_attempts``.

        ``error`` is stored truncated to 500 characters; the caller must keep secrets (webhook URLs, routing
        keys) out of it. A delivery already SENT or GIVEN_UP is left unchanged and its status returned.
        Raises ``LedgerError`` for an unknown delivery or a database failure.
        """
        with self._write("mark_alert_failed") as s:
            row = self._delivery(s, alert_id, channel)
            if row.status in (DeliveryStatus.SENT.value, DeliveryStatus.GIVEN_UP.value):
                return DeliveryStatus(row.status)
            row.attempts += 1
            row.last_error = str(error)[:_ERROR_LIMIT]
            row.next_attempt_at = to_utc(retry_at)
            status = DeliveryStatus.GIVEN_UP if row.attempts >= max_attempts else DeliveryStatus.FAILED
            row.status = status.value
            if status is DeliveryStatus.GIVEN_UP:
                self._log_in(s, "ALERT_GIVEN_UP", "ERROR", f"alert {alert_id} not delivered on {channel}",
                             {"alert_id": alert_id, "channel": channel, "attempts": row.attempts,
                              "last_error": row.last_error})
            return status

    def alert_delivery(self, alert_id: int) -> dict[str, tuple[DeliveryStatus, int, str | None]]:
        """Per channel: ``(status, attempts, last_error)`` of one alert; raises ``LedgerError`` on failure."""
        with self._read("alert_delivery") as s:
            rows = s.scalars(select(DeliveryRow).where(DeliveryRow.alert_id == alert_id))
            return {r.channel: (DeliveryStatus(r.status), r.attempts, r.last_error) for r in rows}
