"""The alerter: every alert goes to the log and into the ledger's outbox, then out to people.

Routing is configuration (``alerts.routes``: severity and kind → channels); the ledger only keeps the
outbox rows. Delivery runs on one worker thread per configured channel (``actors.delivery``), owned by
this actor and started/stopped with it, so a burst of alerts never blocks the actor that raised them nor
this one. Alerts reach the outbox as soon as the alerter's mailbox is drained (a burst in one
transaction, and at the latest at the next heartbeat); from there one undelivered at a crash is
delivered after the restart. An alert still in the mailbox at a ``kill -9`` is lost with it, as is any
message in flight between actors. When the ledger cannot write (a full disk, a database gone), alerts
are held in memory and sent straight to their channels until the outbox takes them again
(:mod:`actors.held_alerts`).

PagerDuty incidents: a CRITICAL alert joins the open incident (``_incident``, one stable ``dedup_key``
until the reset) or opens a new one; an alert of kind ``reset`` carries the open incident so that
PagerDuty resolves it.

Per-trade notices (``alerts.trade_notices``): ``all`` sends one INFO alert per booked fill, ``digest``
one alert every ``digest_minutes`` listing the fills since the last, ``none`` nothing. A daily summary
(P&L, trades, kill-switch events of the UTC day) is queued once after each day ends, recorded as a
``DAILY_SUMMARY`` activity row so that a restart does not send it twice. Without a ledger (bare tests)
alerts are only logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kalshi_guard.actors.base import SupervisedActor
from kalshi_guard.actors.delivery import ChannelWorker, build_channels
from kalshi_guard.actors.held_alerts import HeldAlerts
from kalshi_guard.actors.messages import Alert, FillBooked, Severity
from kalshi_guard.config.schema import AlertKind, AlertSettings
from kalshi_guard.ledger.outbox import QueuedAlert

_LEVEL = {Severity.INFO: "INFO", Severity.WARNING: "WARNING", Severity.CRITICAL: "CRITICAL"}
DIGEST_MAX_LINES = 20
FLUSH_MAX = 100  # alerts written to the outbox in one transaction at most
_UNKNOWN = object()


def prepare_alert(alert: Alert, cfg: AlertSettings, incident: Callable[[], str | None]) -> QueuedAlert | None:
    """The outbox row of ``alert`` routed by ``cfg`` (None: no channel takes it).

    CRITICAL alerts carry the open incident (``incident()``; a new key when none is open); a reset
    carries the one it resolves.
    """
    kind = alert.kind if alert.kind in set(AlertKind) else AlertKind.GENERAL
    channels = cfg.channels_for(alert.severity.value, kind)
    if not channels:
        return None
    meta = [("_kind", str(kind))]
    if alert.severity is Severity.CRITICAL:
        meta.append(("_incident", incident() or f"kalshi-guard-{uuid.uuid4().hex[:16]}"))
    elif kind == AlertKind.RESET:
        open_key = incident()
        if open_key:
            meta.append(("_incident", open_key))
    return QueuedAlert(alert.severity.value, alert.title, (*alert.fields, *meta), alert.dedup_key, channels)


def queue_alert(ledger: Any, cfg: AlertSettings, alert: Alert) -> int | None:
    """Route ``alert`` and put it in the outbox at once; its id (None: no channel). For callers outside the
    alerter (the supervisor's escalation). Raises ``LedgerError`` when the ledger cannot write."""
    row = prepare_alert(alert, cfg, ledger.open_incident)
    return None if row is None else ledger.enqueue_alerts([row])[0]


class Alerter(SupervisedActor):
    """Permanent, one-for-one. Receives :class:`Alert` from any actor and :class:`FillBooked` for notices."""

    def setup(self) -> None:
        """Start one delivery worker per configured channel (none without a ledger or settings)."""
        self.sent = 0
        self.ledger = self.ctx.services.ledger
        settings = self.ctx.services.settings
        self.cfg: AlertSettings = settings.alerts if settings is not None else AlertSettings()
        self.workers: dict[str, ChannelWorker] = {}
        self._digest: list[FillBooked] = []
        self._digest_due = self.ctx.clock() + self.cfg.digest_minutes * 60
        self._summarised = self._last_summary()
        self._rows: list[QueuedAlert] = []
        self._incident: Any = _UNKNOWN
        self._held = HeldAlerts(self.workers, self.ctx.clock, self.log)
        if self.ledger is None:
            return
        for name, channel in build_channels(self.cfg).items():
            worker = ChannelWorker(channel, self.ledger, self.cfg, actor=self.ctx.name)
            self.workers[name] = worker
            worker.start()

    def teardown(self) -> None:
        """Write held alerts, stop the workers (each within its request timeout). Undelivered alerts stay
        in the outbox."""
        if getattr(self, "_rows", None) or len(getattr(self, "_held", ())):
            self._flush(retry_now=True)
        workers = list(getattr(self, "workers", {}).values())
        for worker in workers:
            worker.request_stop()
        for worker in workers:
            worker.stop()

    def handle(self, message: Any) -> Any:
        """Queue an alert, or note a booked fill. A ledger failure is logged (the alert still reaches the log).

        Alerts are written to the outbox together: when the mailbox holds no more messages (a burst costs
        one transaction, not one per alert), at ``FLUSH_MAX`` alerts, or at the next heartbeat.
        """
        if isinstance(message, FillBooked):
            self._trade(message)
        elif isinstance(message, Alert):
            self._queue(message)
        else:
            self._flush()
            return super().handle(message)
        if len(self._rows) >= FLUSH_MAX or self.actor_inbox.empty():
            self._flush()
        return None

    def on_tick(self) -> None:
        """Flush a due trade digest; queue the daily summary once a UTC day has ended."""
        self._flush()
        now = self.ctx.clock()
        if self._digest and now >= self._digest_due:
            self._flush_digest()
        if self._digest_due <= now:
            self._digest_due = now + self.cfg.digest_minutes * 60
        if self.cfg.daily_summary and self.ledger is not None:
            yesterday = datetime.fromtimestamp(now, UTC).date() - timedelta(days=1)
            if self._summarised < yesterday:
                self._summary(self._summarised + timedelta(days=1))
        self._flush()

    # -- alerts -------------------------------------------------------------------------------------

    def _queue(self, alert: Alert) -> None:
        fields = ", ".join(f"{k}={v}" for k, v in alert.fields)
        self.log.log(_LEVEL[alert.severity], "ALERT [{}] {} {}", alert.severity.value, alert.title, fields)
        self.sent += 1
        if self.ledger is None:
            return
        row = prepare_alert(alert, self.cfg, self._open_incident)
        if row is None:
            return
        for key, value in row.fields:
            if key == "_incident":
                self._incident = None if alert.kind == AlertKind.RESET else value
        self._rows.append(row)

    def _open_incident(self) -> str | None:
        if self._incident is _UNKNOWN:
            try:
                self._incident = self.ledger.open_incident()
            except Exception as exc:
                self.log.error("could not read the open incident: {!r}", exc)
                return None
        return self._incident

    def _flush(self, *, retry_now: bool = False) -> None:
        """Write the pending alerts (and any the outbox refused before) to the outbox in one transaction and
        wake the workers. When the ledger refuses, they are held in memory and sent straight to their
        channels (:mod:`actors.held_alerts`); while alerts are held, the outbox is tried again at most every
        ``held_alerts.RETRY_S`` (``retry_now``: at once) and new alerts are held at once meanwhile."""
        if not self._rows and not len(self._held):
            return
        new, self._rows = self._rows, []
        if self._held.waiting() and not retry_now:
            self._held.hold(new, None)
            return
        try:
            self.ledger.enqueue_alerts(self._held.rows() + new)
        except Exception as exc:  # held, and sent straight: their incident is opened, later ones join it
            self._held.hold(new, exc)
            return
        self._held.queued()
        for worker in self.workers.values():
            worker.wake()

    # -- trade notices and the daily summary ----------------------------------------------------------

    def _trade(self, fill: FillBooked) -> None:
        mode = self.cfg.trade_notices
        if mode == "none":
            return
        if mode == "digest":
            self._digest.append(fill)
            return
        self._queue(Alert(Severity.INFO, f"trade confirmed: {fill.action} {fill.side} {fill.ticker}".strip(),
                          trade_fields(fill), kind=AlertKind.TRADE))

    def _flush_digest(self) -> None:
        fills, self._digest = self._digest, []
        lines = [f"{f.action} {f.count} {f.side} {f.ticker} @ {f.price}" for f in fills[:DIGEST_MAX_LINES]]
        if len(fills) > DIGEST_MAX_LINES:
            lines.append(f"… and {len(fills) - DIGEST_MAX_LINES} more")
        pnl = sum((f.realized_pnl - f.fee for f in fills), start=type(fills[0].fee)(0))
        self._queue(Alert(Severity.INFO, f"{len(fills)} trades confirmed", (
            ("trades", str(len(fills))), ("P&L", str(pnl)), ("fills", "\n".join(lines))), kind=AlertKind.TRADE))

    def _last_summary(self) -> date:
        today = datetime.fromtimestamp(self.ctx.clock(), UTC).date()
        if self.ledger is None:
            return today
        try:
            rows = self.ledger.activity("DAILY_SUMMARY", limit=1)
            if rows and rows[0].details and rows[0].details.get("day"):
                return date.fromisoformat(str(rows[0].details["day"]))
        except Exception as exc:
            self.log.error("could not read the last daily summary: {!r}", exc)
        return today - timedelta(days=1)  # first run: summaries start with today

    def _summary(self, day: date) -> None:
        try:
            pnl = self.ledger.daily_realized_pnl(day)
            trades, stops = self.ledger.day_counts(day)
            self.ledger.log_activity("DAILY_SUMMARY", "INFO", f"daily summary for {day}",
                                     {"day": day.isoformat(), "pnl": str(pnl), "trades": trades, "kill_switch": stops})
        except Exception as exc:
            self.log.error("daily summary for {} failed: {!r}", day, exc)
            return
        self._summarised = day
        self._queue(Alert(Severity.INFO, f"daily summary {day}", (
            ("P&L", str(pnl)), ("trades", str(trades)), ("kill-switch events", str(stops))), kind=AlertKind.SUMMARY))


def trade_fields(fill: FillBooked) -> tuple[tuple[str, str], ...]:
    """The embed fields of one confirmed trade: ticker, side, count, price, P&L, reason."""
    return (
        ("ticker", fill.ticker),
        ("side", f"{fill.action} {fill.side}".strip() or "-"),
        ("count", str(fill.count)),
        ("price", f"{fill.price} (yes)"),
        ("P&L", str(fill.realized_pnl - fill.fee)),
        ("reason", f"fill {fill.trade_id} of {fill.client_order_id}"),
    )
