"""``kalshi-guard test-alert [--channel NAME]``: send one alert of each severity and print the answers.

The alerts go straight to each configured channel (not through the outbox, so a running daemon is not
needed and nothing is left queued). PagerDuty's CRITICAL test trigger is resolved right after it was
accepted, so no incident stays open. A 429 is waited out once (``retry_after``). The webhook URL and
routing key never appear in the output: every answer is redacted by its channel. Exit codes: 0 every
alert accepted, 1 a channel refused or did not answer (or none is configured), 78 configuration error.
Each channel's result is recorded as a ``TEST_ALERT`` activity row (``kalshi-guard preflight`` reads them).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from kalshi_guard.actors.channels import AlertChannel, Attempt, Outcome
from kalshi_guard.ledger.records import OutboxAlert

EX_OK = 0
EX_FAIL = 1
SEVERITIES = ("info", "warning", "critical")
MAX_WAIT_S = 10.0


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``test-alert``."""
    help_ = "send one test alert of each severity to each configured channel and print what it answered"
    p = subparsers.add_parser(name, parents=[common], help=help_, description=help_)
    p.add_argument("--channel", choices=("discord", "pagerduty", "webhook"), help="only this channel")
    p.set_defaults(func=run_test_alert)


def test_alerts(now: float) -> list[OutboxAlert]:
    """The three test alerts (kind ``test``; the critical one with its own incident key)."""
    key = f"kalshi-guard-test-{int(now)}"
    return [
        OutboxAlert(id=i + 1, channel="", severity=sev, title=f"test alert ({sev})",
                    fields=(("reason", "kalshi-guard test-alert"), ("_kind", "test"), ("_incident", key)),
                    dedup_key=None, created_at=now, attempts=0, last_error=None)
        for i, sev in enumerate(SEVERITIES)
    ]


def send_once(channel: AlertChannel, alert: OutboxAlert) -> Attempt:
    """One request; a 429 is waited out (at most 10 s) and tried once more."""
    attempt = channel.send([alert])
    if attempt.status == 429 and attempt.retry_after is not None and attempt.retry_after <= MAX_WAIT_S:
        time.sleep(attempt.retry_after)
        attempt = channel.send([alert])
    return attempt


def run_channels(channels: dict[str, AlertChannel], now: float) -> tuple[list[str], dict[str, list[str]]]:
    """Send the test alerts on each channel; the lines to print and, per channel, the answers that were
    not SENT (an empty list: every alert accepted)."""
    lines: list[str] = []
    failed: dict[str, list[str]] = {}
    for name, channel in channels.items():
        bad = failed.setdefault(name, [])
        for alert in test_alerts(now):
            attempt = send_once(channel, alert)
            if attempt.outcome is not Outcome.SENT:
                bad.append(f"{alert.severity}: {attempt.detail}")
            lines.append(f"{name:<10} {alert.severity:<9} {attempt.outcome.value:<9} {attempt.detail}")
            if name == "pagerduty" and alert.severity == "critical" and attempt.outcome is Outcome.SENT:
                resolve = OutboxAlert(id=alert.id, channel="", severity="warning", title="test resolved",
                                      fields=(("_kind", "reset"), ("_incident", alert.meta("incident"))),
                                      dedup_key=None, created_at=now, attempts=0, last_error=None)
                answer = send_once(channel, resolve)
                if answer.outcome is not Outcome.SENT:
                    bad.append(f"resolve: {answer.detail}")
                lines.append(f"{name:<10} {'resolve':<9} {answer.outcome.value:<9} {answer.detail}")
        channel.close()
    return lines, failed


def record(settings: Any, failed: dict[str, list[str]]) -> str | None:
    """One ``TEST_ALERT`` activity row per channel (``{"channel", "ok", "failures"}``; ``preflight`` reads
    them). Returns a warning when the ledger cannot be written (the test itself still counts)."""
    from kalshi_guard.config.paths import ledger_url
    from kalshi_guard.ledger.store import Ledger

    try:
        ledger = Ledger.open(ledger_url(settings))
        try:
            for name, bad in failed.items():
                ledger.log_activity("TEST_ALERT", "INFO" if not bad else "WARNING",
                                    f"test alert on {name}: {'delivered' if not bad else 'refused'}",
                                    {"channel": name, "ok": not bad, "failures": bad})
        finally:
            ledger.close()
    except Exception as exc:
        return f"kalshi-guard: the result was not recorded in the ledger ({type(exc).__name__})"
    return None


def run_test_alert(args: argparse.Namespace) -> int:
    """Load the settings, build the channels, send, print. Raises ``ConfigError`` for a bad config."""
    from kalshi_guard.actors.delivery import build_channels
    from kalshi_guard.config.loader import load_settings

    config = getattr(args, "config", None)
    settings = load_settings(Path(config) if config else None, env=os.environ)
    channels = build_channels(settings.alerts)
    if args.channel:
        channels = {k: v for k, v in channels.items() if k == args.channel}
    if not channels:
        which = f"channel {args.channel!r} is" if args.channel else "no alert channel is"
        print(f"kalshi-guard: {which} not configured (alerts.discord_webhook_url, alerts.pagerduty_routing_key, "
              "alerts.webhook_url)")
        return EX_FAIL
    lines, failed = run_channels(channels, time.time())
    print("\n".join(lines))
    warning = record(settings, failed)
    if warning:
        print(warning, file=sys.stderr)
    return EX_OK if not any(failed.values()) else EX_FAIL
