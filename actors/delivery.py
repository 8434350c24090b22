"""Delivery from the ledger's outbox: one worker thread per configured channel, owned by the alerter.

Each worker loops: wait until the channel's rate-limit bucket allows a request, read the alerts due on
its channel (oldest first), let the channel pack the next request, send it (bounded by the channel's
timeout) and record the answer in the ledger:

- SENT: every alert of the request is marked sent in one transaction.
- RETRY with ``retry_after`` (a 429): nothing is recorded; the worker waits that long (a rate limit is
  not a failed attempt).
- RETRY otherwise (timeout, network error, 5xx): each alert is marked failed with an exponential
  backoff (``backoff_initial_s`` × 2^attempts, at most ``backoff_max_s``, or ``retry_after`` when the
  server gave one); after ``max_attempts`` the ledger gives it up (an ``ALERT_GIVEN_UP`` activity row).
- DROP (the server can never accept this message): a coalesced request is retried alert by alert so
  that one bad alert cannot sink its neighbours; a single alert is given up.
- PERMANENT (401/403/404: the webhook or key is wrong): nothing more is sent; the worker logs an ERROR,
  records an ``ALERT_CHANNEL_DISABLED`` activity row and stops (:attr:`ChannelWorker.error`). The alerts
  stay pending in the outbox for the next start with a corrected configuration.

Because an alert is marked sent only after the server confirmed it, a crash (``kill -9``) between the two
sends it again after the restart: delivery is at least once. A worker never raises: a ledger failure or a
bug is logged and retried after ``backoff_initial_s``.

Alerts the outbox could not take (:mod:`actors.held_alerts`) are handed to the worker with
:meth:`ChannelWorker.send_direct` and go before the outbox's (whose read may be failing too): the same
request, nothing recorded in the ledger; a failed one is tried again with the outbox's backoff (doubling
from ``backoff_initial_s`` to ``backoff_max_s``), as long as the alert is still wanted (the outbox has not
taken it since).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from loguru import logger

from kalshi_guard.actors.channels import AlertChannel, Attempt, Outcome
from kalshi_guard.config.schema import AlertSettings
from kalshi_guard.core.errors import AlertDeliveryError
from kalshi_guard.ledger.records import OutboxAlert

IDLE_POLL_S = 5.0  # with nothing due, look again this often (new alerts wake the worker at once)
STOP_WAIT_S = 2.0  # a stopping worker is waited for this long (the supervisor's stop timeout is longer)


def build_channels(cfg: AlertSettings, **kwargs: Any) -> dict[str, AlertChannel]:
    """The configured channels by name (``kwargs`` go to every channel: ``clock``, ``transport``)."""
    from kalshi_guard.actors.discord import DiscordChannel
    from kalshi_guard.actors.pagerduty import PagerDutyChannel
    from kalshi_guard.actors.webhook import WebhookChannel

    out: dict[str, AlertChannel] = {}
    kwargs.setdefault("timeout_s", cfg.timeout_s)
    if cfg.discord_webhook_url is not None and cfg.discord_webhook_url.get_secret_value():
        out["discord"] = DiscordChannel(cfg.discord_webhook_url.get_secret_value(),
                                        mention_critical=cfg.mention_critical, **kwargs)
    if cfg.pagerduty_routing_key is not None and cfg.pagerduty_routing_key.get_secret_value():
        out["pagerduty"] = PagerDutyChannel(cfg.pagerduty_url, cfg.pagerduty_routing_key.get_secret_value(),
                                            source=cfg.source, **kwargs)
    if cfg.webhook_url is not None and cfg.webhook_url.get_secret_value():
        out["webhook"] = WebhookChannel(cfg.webhook_url.get_secret_value(), **kwargs)
    return out


class ChannelWorker:
    """Delivers one channel's outbox on its own daemon thread. :meth:`wake` after queuing an alert."""

    def __init__(
        self,
        channel: AlertChannel,
        ledger: Any,
        cfg: AlertSettings,
        *,
        clock: Callable[[], float] = time.time,
        actor: str = "alerter",
    ) -> None:
        self.channel = channel
        self.ledger = ledger
        self.cfg = cfg
        self.clock = clock
        self.log = logger.bind(actor=actor, channel=channel.name)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._singles: set[int] = set()  # alerts to send alone after a coalesced message was refused
        self._direct: list[tuple[OutboxAlert, Any]] = []  # (alert, its Held) the outbox could not take
        self._direct_lock = threading.Lock()
        self._direct_singly = False  # after a refused coalesced request: held alerts go one per request
        self._direct_failures = 0  # failed direct requests in a row (their backoff doubles, as the outbox's)
        self.error: AlertDeliveryError | None = None  # set when the channel stopped for good
        self.requests = 0
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name=f"alerter-{channel.name}", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox now (an alert was queued)."""
        self._wake.set()

    def send_direct(self, alert: OutboxAlert, held: Any) -> None:
        """Send ``alert`` (not in the outbox) while ``held.wanted_on(channel)``; ``held.sent_on(channel)``
        once the channel confirmed it. Returns at once (the worker's thread sends)."""
        with self._direct_lock:
            self._direct.append((alert, held))
        self.wake()

    def request_stop(self) -> None:
        """Ask the thread to end after its current step (returns at once)."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Ask the thread to end and wait up to ``timeout``. A request still in flight then is left to its
        own timeout on the daemon thread: its alerts are not marked sent, so they go again (at least once)."""
        self.request_stop()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.channel.close()

    def alive(self) -> bool:
        """Whether the thread runs."""
        return self._thread.is_alive()

    # -- the loop -----------------------------------------------------------------------------------

    def _pause(self, seconds: float) -> None:
        self._wake.wait(max(0.0, seconds))
        self._wake.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._step()
            except Exception as exc:  # a ledger failure or a bug: never kill the worker
                self.log.error("alert delivery on {} failed: {}", self.channel.name,
                               self.channel.redact(f"{type(exc).__name__}: {exc}"))
                wait = self.cfg.backoff_initial_s
            if self.error is not None:
                return
            if wait > 0 and not self._stop.is_set():
                if self.channel.blocked_until > self.clock():
                    self._stop.wait(wait)  # a rate limit: new alerts must not wake us early
                else:
                    self._pause(wait)

    def _step(self) -> float:
        """One request (or none); returns how long to wait before the next step."""
        now = self.clock()
        if self.channel.blocked_until > now:
            return self.channel.blocked_until - now
        direct = self._direct_step()
        if direct is not None:
            return direct
        due = self.ledger.due_alerts(self.channel.name, now, limit=max(self.channel.limits.max_alerts, 1))
        if not due:
            return IDLE_POLL_S
        for alert in due:
            reason = self.channel.skip(alert)
            if reason is not None:
                self.ledger.mark_alerts_sent([alert.id], self.channel.name)
                self.log.info("alert #{} needs nothing on {}: {}", alert.id, self.channel.name, reason)
                return 0.0
        batch = [due[0]] if due[0].id in self._singles else self.channel.pack(due)
        batch = [a for a in batch if a.id not in self._singles] or batch[:1]
        attempt = self.channel.send(batch)
        self.requests += 1
        return self._record(attempt, max(a.attempts for a in batch))

    def _direct_step(self) -> float | None:
        """One request for alerts handed over by :meth:`send_direct`; None when none is wanted any more."""
        name = self.channel.name
        with self._direct_lock:
            self._direct = [(a, h) for a, h in self._direct if h.wanted_on(name)]
            items = list(self._direct)
        if not items:
            return None
        holders = {a.id: h for a, h in items}
        unsent: list[OutboxAlert] = []
        for alert, held in items:
            if self.channel.skip(alert) is None:
                unsent.append(alert)
            else:
                held.sent_on(name)  # needs nothing on this channel
        if not unsent:
            return 0.0
        attempt = self.channel.send(unsent[:1] if self._direct_singly else self.channel.pack(unsent))
        self.requests += 1
        if attempt.outcome is Outcome.DROP and len(attempt.ids) > 1:
            self._direct_singly = True  # one bad alert must not sink its neighbours
            return 0.0
        if attempt.outcome is Outcome.SENT or attempt.outcome is Outcome.DROP:
            self._direct_failures = 0
            for alert_id in attempt.ids:
                holders[alert_id].sent_on(name)  # a DROP can never be delivered: given up, as the outbox would
            if attempt.outcome is Outcome.SENT:
                self.delivered += len(attempt.ids)
                self.log.info("{} took {} alert(s) the outbox could not", name, len(attempt.ids))
            else:
                self.log.error("{} refused a held alert for good: {}", name, attempt.detail)
            return 0.0
        if attempt.outcome is Outcome.PERMANENT:
            self._disable(attempt)
            return 0.0
        if attempt.status == 429 and attempt.retry_after is not None:
            self.channel.blocked_until = max(self.channel.blocked_until, self.clock() + attempt.retry_after)
            return attempt.retry_after
        delay = min(self.cfg.backoff_max_s, self.cfg.backoff_initial_s * 2 ** min(self._direct_failures, 30))
        self._direct_failures += 1
        self.log.warning("{} delivery of held alerts failed ({}); retrying in {:.1f}s", name, attempt.detail, delay)
        return delay

    def _record(self, attempt: Attempt, attempts: int) -> float:
        name, ids = self.channel.name, list(attempt.ids)
        if attempt.outcome is Outcome.SENT:
            self.ledger.mark_alerts_sent(ids, name)
            self.delivered += len(ids)
            self._singles.difference_update(ids)
            return 0.0
        if attempt.outcome is Outcome.RETRY and attempt.retry_after is not None and attempt.status == 429:
            self.log.info("{} rate limited: waiting {:.3f}s", name, attempt.retry_after)
            self.channel.blocked_until = max(self.channel.blocked_until, self.clock() + attempt.retry_after)
            return attempt.retry_after
        if attempt.outcome is Outcome.DROP and len(ids) > 1:
            self.log.warning("{} refused a message of {} alerts ({}); sending them one by one", name, len(ids),
                             attempt.detail)
            self._singles.update(ids)
            return 0.0
        if attempt.outcome is Outcome.PERMANENT:
            self._disable(attempt)
            return 0.0
        if attempt.outcome is Outcome.DROP:
            self.log.error("{} refused alert(s) {} for good: {}", name, ids, attempt.detail)
            for alert_id in ids:
                self.ledger.mark_alert_failed(alert_id, name, attempt.detail, self.clock(), max_attempts=1)
            self._singles.difference_update(ids)
            return 0.0
        backoff = min(self.cfg.backoff_max_s, self.cfg.backoff_initial_s * 2 ** min(attempts, 30))
        delay = attempt.retry_after if attempt.retry_after is not None else backoff
        retry_at = self.clock() + delay
        for alert_id in ids:
            self.ledger.mark_alert_failed(alert_id, name, attempt.detail, retry_at, max_attempts=self.cfg.max_attempts)
        self.log.warning("{} delivery failed ({}); retrying in {:.1f}s", name, attempt.detail, delay)
        return min(delay, IDLE_POLL_S)

    def _disable(self, attempt: Attempt) -> None:
        self.error = AlertDeliveryError(self.channel.name, f"{attempt.detail}; channel stopped, fix its URL or "
                                        "key and restart", permanent=True)
        self.log.error("alert channel {} disabled: {}", self.channel.name, self.error.detail)
        try:
            self.ledger.log_activity("ALERT_CHANNEL_DISABLED", "ERROR", str(self.error),
                                     {"channel": self.channel.name, "status": attempt.status})
        except Exception as exc:
            self.log.error("could not record the disabled channel: {!r}", exc)
