"""Ledger part: the alert outbox, with delivery state per channel.

An alert is one ``alert_outbox`` row plus one ``alert_delivery`` row per channel, so a Discord success never
hides a PagerDuty failure. A delivery is ``PENDING`` → ``SENT``, or ``FAILED`` (retried from
``next_attempt_at``) until ``max_attempts`` failures are recorded, then ``GIVEN_UP`` (never retried).
Which channels an alert goes to is the caller's choice (the alerter routes by configuration); the ledger
only keeps the rows. Fields whose name starts with ``_`` are metadata for the channels (``_kind``,
``_incident``), never shown to people.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger.activity import ActivityMixin
from kalshi_guard.ledger.records import DeliveryStatus, OutboxAlert
from kalshi_guard.ledger.schema import ActivityRow, AlertRow, DeliveryRow, FillRow
from kalshi_guard.ledger.types import to_utc

DEFAULT_MAX_ATTEMPTS = 10
_ERROR_LIMIT = 500
_CHANNEL_LEN = 32
_INCIDENT_SCAN = 500  # newest outbox rows looked at for the open incident

_INSERT_ALERT = ("INSERT INTO alert_outbox (created_at, severity, title, fields, dedup_key) "
                 "VALUES (:at, :severity, :title, :fields, NULL) RETURNING id")
_INSERT_DELIVERY = ("INSERT INTO alert_delivery (alert_id, channel, status, attempts, next_attempt_at, last_error, "
                    "sent_at) VALUES (:id, :channel, :status, 0, :at, NULL, NULL)")

_DUE = ("SELECT a.id, a.severity, a.title, a.fields, a.dedup_key, a.created_at, d.attempts, d.last_error "
        "FROM alert_outbox a JOIN alert_delivery d ON d.alert_id = a.id WHERE d.channel = :channel "
        "AND d.status IN (:pending, :failed) AND d.next_attempt_at <= :now ORDER BY a.id LIMIT :limit")
_MARK_SENT = ("UPDATE alert_delivery SET status = :sent, attempts = attempts + 1, sent_at = :at "
              "WHERE channel = :channel AND status IN (:pending, :failed) AND alert_id IN ({ids})")


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    """One alert for :meth:`OutboxMixin.enqueue_alerts`."""

    severity: str
    title: str
    fields: tuple[tuple[str, str], ...]
    dedup_key: str | None
    channels: tuple[str, ...]


class OutboxMixin(ActivityMixin):
    """Alert outbox methods of :class:`ledger.store.Ledger`."""

    def enqueue_alert(
        self,
        severity: str,
        title: str,
        fields: Sequence[tuple[str, str]],
        dedup_key: str | None = None,
        *,
        channels: Sequence[str],
    ) -> int:
        """Put an alert in the outbox for each of ``channels`` and return its id.

        With a ``dedup_key`` already held by an alert still pending or failing on some channel, nothing is
        added and that alert's id is returned. Raises ``LedgerError`` (nothing written) for no channel, a
        channel name that is empty or longer than 32 characters, or a database failure.
        """
        return self.enqueue_alerts([QueuedAlert(severity, title, tuple(fields), dedup_key, tuple(channels))])[0]

    def enqueue_alerts(self, alerts: Sequence[QueuedAlert]) -> list[int]:
        """:meth:`enqueue_alert` for many alerts in one transaction (a burst costs one commit); their ids.

        Raises ``LedgerError`` (nothing written at all) as :meth:`enqueue_alert` does for any of them.
        """
        for a in alerts:
            chans = tuple(dict.fromkeys(str(c) for c in a.channels))
            if not chans or any(not c or len(c) > _CHANNEL_LEN for c in chans):
                raise LedgerError(f"alert channels must be non-empty names of at most {_CHANNEL_LEN} characters, "
                                  f"got {chans}")
        now = self._now()
        if all(a.dedup_key is None for a in alerts):
            return self._enqueue_raw(alerts, now)
        rows = [AlertRow(created_at=now, severity=str(a.severity), title=a.title,
                         fields=[[str(k), str(v)] for k, v in a.fields], dedup_key=a.dedup_key) for a in alerts]
        with self._write("enqueue_alerts") as s:
            ids: list[int | None] = [self._pending_dedup(s, a.dedup_key) for a in alerts]
            fresh = [(row, a) for row, a, known in zip(rows, alerts, ids, strict=True) if known is None]
            s.add_all([row for row, _a in fresh])
            s.flush()  # one multi-row insert; assigns the ids
            s.add_all([DeliveryRow(alert_id=row.id, channel=c, status=DeliveryStatus.PENDING.value, attempts=0,
                                   next_attempt_at=now, last_error=None, sent_at=None)
                       for row, a in fresh for c in dict.fromkeys(str(c) for c in a.channels)])
            it = iter(row.id for row, _a in fresh)
            return [int(known) if known is not None else int(next(it)) for known in ids]

    def _enqueue_raw(self, alerts: Sequence[QueuedAlert], now: datetime) -> list[int]:
        """The common case (no dedup key) on the pooled DB-API connection: a burst costs little CPU under the
        write lock that the order path shares."""
        h = self._hot
        at = h.enc_ts(now)
        insert_alert, insert_delivery = h.sql_for(_INSERT_ALERT), h.sql_for(_INSERT_DELIVERY)
        params = [{"at": at, "severity": str(a.severity), "title": a.title,
                   "fields": json.dumps([[str(k), str(v)] for k, v in a.fields])} for a in alerts]
        ids: list[int] = []
        with self._raw_write("enqueue_alerts") as conn:
            cur = conn.cursor()
            for a, p in zip(alerts, params, strict=True):
                cur.execute(insert_alert, p)
                alert_id = int(cur.fetchone()[0])
                ids.append(alert_id)
                cur.executemany(insert_delivery, [{"id": alert_id, "channel": c, "status": DeliveryStatus.PENDING.value,
                                                   "at": at} for c in dict.fromkeys(str(c) for c in a.channels)])
            cur.close()
        return ids

    @staticmethod
    def _pending_dedup(s: Any, dedup_key: str | None) -> int | None:
        """The alert still pending or failing somewhere under ``dedup_key``, if any."""
        if dedup_key is None:
            return None
        found = s.scalar(
            select(AlertRow.id)
            .join(DeliveryRow, DeliveryRow.alert_id == AlertRow.id)
            .where(
                AlertRow.dedup_key == dedup_key,
                DeliveryRow.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]),
            )
            .order_by(AlertRow.id)
            .limit(1)
        )
        return None if found is None else int(found)

    def due_alerts(self, channel: str, now: float | datetime, limit: int = 50) -> list[OutboxAlert]:
        """Alerts pending or failed on ``channel`` whose next attempt is due at ``now``, oldest first.

        Raises ``LedgerError`` when the database cannot be read.
        """
        h = self._hot
        rows = self._raw_rows("due_alerts", h.sql_for(_DUE), {
            "channel": channel, "pending": DeliveryStatus.PENDING.value, "failed": DeliveryStatus.FAILED.value,
            "now": h.enc_ts(to_utc(now)), "limit": max(0, int(limit))})
        out = []
        for alert_id, severity, title, fields, dedup_key, created_at, attempts, last_error in rows:
            pairs = json.loads(fields) if isinstance(fields, str) else fields
            out.append(OutboxAlert(id=int(alert_id), channel=channel, severity=severity, title=title,
                                   fields=tuple((str(k), str(v)) for k, v in pairs), dedup_key=dedup_key,
                                   created_at=h.dec_ts(created_at), attempts=int(attempts), last_error=last_error))
        return out

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

    def mark_alerts_sent(self, alert_ids: Sequence[int], channel: str) -> None:
        """Record that ``channel`` delivered every alert of ``alert_ids`` (one message), in one statement.

        Deliveries already SENT or GIVEN_UP (or unknown) are left as they are. Raises ``LedgerError`` for a
        database failure (then nothing is recorded, and the alerts are sent again: at least once).
        """
        if not alert_ids:
            return
        h = self._hot
        params: dict[str, Any] = {f"i{n}": int(i) for n, i in enumerate(alert_ids)}
        params |= {"channel": channel, "sent": DeliveryStatus.SENT.value, "at": h.enc_ts(self._now()),
                   "pending": DeliveryStatus.PENDING.value, "failed": DeliveryStatus.FAILED.value}
        sql = _MARK_SENT.replace("{ids}", ", ".join(f":i{n}" for n in range(len(alert_ids))))
        with self._raw_write("mark_alerts_sent") as conn:
            cur = conn.cursor()
            cur.execute(h.sql_for(sql), params)
            cur.close()

    def open_incident(self) -> str | None:
        """The ``_incident`` of the newest alert that opened one, unless an alert of kind ``reset`` came after.

        Looks at the newest 500 outbox rows. Raises ``LedgerError`` when the database cannot be read.
        """
        q = select(AlertRow.fields).order_by(AlertRow.id.desc()).limit(_INCIDENT_SCAN)
        with self._read("open_incident") as s:
            for fields in s.scalars(q):
                meta = {str(k): str(v) for k, v in fields if str(k).startswith("_")}
                if meta.get("_kind") == "reset":
                    return None
                if meta.get("_incident"):
                    return meta["_incident"]
        return None

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

    def day_counts(self, day: date) -> tuple[int, int]:
        """``(fills, kill-switch events)`` booked in the UTC ``day`` (for the daily summary).

        Raises ``LedgerError`` when the database cannot be read.
        """
        start = datetime.combine(day, time(0), tzinfo=UTC)
        end = start + timedelta(days=1)
        with self._read("day_counts") as s:
            fills = s.scalar(select(func.count(FillRow.id)).where(FillRow.ts >= start, FillRow.ts < end))
            stops = s.scalar(select(func.count(ActivityRow.id)).where(
                ActivityRow.category == "KILL_SWITCH", ActivityRow.at >= start, ActivityRow.at < end))
        return int(fills or 0), int(stops or 0)
