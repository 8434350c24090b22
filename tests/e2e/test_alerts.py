"""The real daemon's alerts against loopback Discord and PagerDuty stand-ins: a stop pages once, the
reset resolves it, a kill -9 loses nothing, a full disk loses nothing either, and the webhook URL and
routing key stay secret."""

from __future__ import annotations

import resource
import signal
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kalshi_guard.simulator.markets import DEFAULT_TICKERS
from tests.waiting import wait_until

from .conftest import EXE, Daemon

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FAST = {"KALSHI_GUARD_ALERTS__BACKOFF_INITIAL_S": "0.05", "KALSHI_GUARD_ALERTS__BACKOFF_MAX_S": "0.2"}


def alert_env(discord: Any, pd: Any) -> dict[str, str]:
    return {"KALSHI_GUARD_ALERTS__DISCORD_WEBHOOK_URL": discord.url,
            "KALSHI_GUARD_ALERTS__PAGERDUTY_ROUTING_KEY": pd.ROUTING_KEY,
            "KALSHI_GUARD_ALERTS__PAGERDUTY_URL": pd.url, **FAST}


def everything_written(d: Daemon) -> str:
    """Every file in the state directory's log folders plus the daemon's stderr."""
    texts = [p.read_text(errors="replace") for p in d.state.rglob("*.jsonl*")]
    texts.append((d.state.parent / f"daemon-{d.port}.stderr").read_text(errors="replace"))
    return "\n".join(texts)


class TestDaemonAlerts:
    def test_stop_pages_once_reset_resolves_secrets_stay_secret(
        self, daemon_factory: Callable[..., Daemon], standins: Callable[..., Any]
    ) -> None:
        """Emergency stop → one CRITICAL embed (with @here) and one PagerDuty trigger; reset → one resolve
        of the same dedup_key. Neither the webhook token nor the routing key is in the log, stderr, the
        API's answers or check-config."""
        discord, pd = standins("discord"), standins("pagerduty")
        d = daemon_factory(**alert_env(discord, pd))
        d.start()
        d.wait_ready()
        assert d.api("POST", "/api/bot/emergency-stop", json={"reason": "drill"}).status_code == 200
        assert pd.wait_for(lambda s: len(s.of("trigger")) == 1, timeout=30)
        assert discord.wait_for(lambda s: any(e["title"].startswith("[CRITICAL]") for e in s.embeds()), timeout=30)
        r = d.api("POST", "/api/bot/reset", json={"reason": "drill over"})
        assert r.status_code == 200, r.text
        assert pd.wait_for(lambda s: len(s.of("resolve")) == 1, timeout=30)
        assert pd.of("resolve")[0]["dedup_key"] == pd.of("trigger")[0]["dedup_key"]
        assert pd.open == set()
        assert len(pd.of("trigger")) == 1
        criticals = [e for e in discord.embeds() if e["title"].startswith("[CRITICAL]")]
        assert len(criticals) == 1
        answers = d.api("GET", "/api/status").text + d.api("GET", "/api/activity").text
        check = subprocess.run([EXE, "check-config", "--json"], env=d.env, capture_output=True, text=True,
                               timeout=30, check=False)
        d.stop()
        for secret in (discord.TOKEN, pd.ROUTING_KEY):
            assert secret not in everything_written(d)
            assert secret not in answers
            assert secret not in check.stdout + check.stderr

    def test_kill_9_with_undelivered_alerts_delivered_after_restart(
        self, daemon_factory: Callable[..., Daemon], standins: Callable[..., Any], tmp_path: Path
    ) -> None:
        """Discord is down (503) when the kill switch trips; the daemon is killed with SIGKILL; after the
        restart (Discord back) the kill-switch alert is delivered."""
        discord, pd = standins("discord"), standins("pagerduty")
        discord.fail_next.extend([503] * 100_000)
        state = tmp_path / "state"
        d = daemon_factory(state, **alert_env(discord, pd))
        d.start()
        d.wait_ready()
        d.signal(signal.SIGUSR1)
        d.wait_notify("gate=HALTED")
        assert discord.wait_for(lambda s: len(s.seen) >= 2, timeout=30)  # tried and failed
        d.signal(signal.SIGKILL)
        d.wait_exit()
        d.close()
        discord.fail_next.clear()
        again = daemon_factory(state, **alert_env(discord, pd))
        again.start()
        wait_until(lambda: any("kill switch: trading halted" in e["title"] for e in discord.embeds()),
                   timeout=30, what="the kill-switch alert delivered after the restart")


KEEP_TRADING = {f"KALSHI_GUARD_LIMITS__{k}": "1000000" for k in (
    "MAX_DAILY_LOSS", "MAX_MARKET_EXPOSURE", "MAX_EVENT_EXPOSURE", "MAX_TOTAL_EXPOSURE")}
KEEP_TRADING["KALSHI_GUARD_LIMITS__PRICE_COLLAR"] = "1"  # buying at 0.99 is the point


def disk_of(limit: int) -> Callable[[], None]:
    """A child's "disk" that is full once a file reaches ``limit`` bytes: RLIMIT_FSIZE (Python ignores
    SIGXFSZ, so a write past it fails with EFBIG and SQLite reports an I/O error, as on a full disk)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def fill_the_disk(d: Daemon) -> None:
    """Trade until the daemon refuses an order because its ledger cannot write (fail closed)."""
    def refused_for_the_ledger() -> bool:
        r = d.api("POST", "/api/orders", json={
            "ticker": DEFAULT_TICKERS[0], "outcome": "yes", "action": "buy", "count": "1", "price": "0.99",
            "time_in_force": "ioc", "client_order_id": str(uuid.uuid4())})
        return r.json().get("reason") == "LEDGER_UNAVAILABLE"

    wait_until(refused_for_the_ledger, timeout=60, what="the ledger to refuse writes", every=0.0)


def stop_alerts(discord: Any) -> list[dict[str, Any]]:
    return [e for e in discord.embeds() if e["title"].startswith("[CRITICAL]") and "trading halted" in e["title"]]


class TestFullDisk:
    def test_the_stop_alert_leaves_the_process_when_the_ledger_cannot_write(
        self, daemon_factory: Callable[..., Daemon], standins: Callable[..., Any]
    ) -> None:
        """The daemon trades until its files cannot grow (orders are then refused LEDGER_UNAVAILABLE: fail
        closed) and pages that every order is refused; the emergency stop that follows still halts, and its
        CRITICAL alert — which the outbox cannot take — reaches Discord straight from memory; the daemon
        stays up and says so in its log. On PagerDuty both are one incident. Checked against the alerter
        that dropped a batch the outbox refused (no alert arrives), against a placer that refused without
        alerting, and against an alerter that forgot the open incident when the outbox failed (two)."""
        discord, pd = standins("discord"), standins("pagerduty")
        d = daemon_factory(**alert_env(discord, pd), **KEEP_TRADING)
        d.start(preexec_fn=disk_of(1 << 20))
        d.wait_ready()
        fill_the_disk(d)
        wait_until(lambda: [e for e in discord.embeds() if e["title"].startswith("[CRITICAL]")
                            and "ledger unavailable" in e["title"]], timeout=30, what="the refusals paged")
        stop = d.api("POST", "/api/bot/emergency-stop", json={"reason": "disk full drill"})
        assert stop.status_code == 200, stop.text
        assert d.status()["gate"]["state"] == "HALTED"
        wait_until(lambda: stop_alerts(discord), timeout=30, what="the stop's alert on Discord")
        assert pd.wait_for(lambda s: len(s.of("trigger")) >= 2, timeout=30)
        assert len({t["dedup_key"] for t in pd.of("trigger")}) == 1  # one incident: the stop joined the first
        assert d.proc is not None
        assert d.proc.poll() is None
        stderr = d.state.parent / f"daemon-{d.port}.stderr"
        wait_until(lambda: "alert outbox cannot be written" in stderr.read_text(errors="replace"), timeout=10,
                   what="the outage in the daemon's log")
