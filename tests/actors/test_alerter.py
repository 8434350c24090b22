"""Specification of the alerter: routing by configuration, PagerDuty incidents, trade notices and
at-least-once delivery across a kill -9 — all against loopback stand-ins."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from kalshi_guard.actors.alerter import Alerter
from kalshi_guard.actors.base import ActorContext, HeartbeatBoard
from kalshi_guard.actors.guardian import Guardian
from kalshi_guard.actors.messages import Alert, EmergencyStop, FillBooked, Ping, Reset, Severity
from kalshi_guard.actors.peers import Peers
from kalshi_guard.config.schema import AlertSettings, Settings
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.ledger import Ledger


def settings_for(discord=None, pagerduty=None, webhook=None, **alerts: object) -> Settings:
    cfg = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05, **alerts}
    if discord is not None:
        cfg["discord_webhook_url"] = SecretStr(discord.url)
    if pagerduty is not None:
        cfg["pagerduty_routing_key"] = SecretStr(pagerduty.ROUTING_KEY)
        cfg["pagerduty_url"] = pagerduty.url
    if webhook is not None:
        cfg["webhook_url"] = SecretStr(webhook.url)
    return Settings().model_copy(update={"alerts": AlertSettings.model_validate(cfg)})


class Tree:
    """The alerter and the guardian, as the supervisor would start them, on one ledger."""

    def __init__(self, tmp: Path, settings: Settings, names: tuple[str, ...] = ("alerter", "guardian"),
                 clock: Callable[[], float] = time.time) -> None:
        self.ledger = Ledger.open(f"sqlite:///{tmp / 'ledger.sqlite'}")
        self.gate = TradingGate(persist=self.ledger.save_gate)
        self.gate.mark_ready()
        self.peers = Peers(list(names))
        services = {"ledger": self.ledger, "settings": settings}
        for name, cls in (("alerter", Alerter), ("guardian", Guardian)):
            if name in names:
                ctx = ActorContext(name, 1, self.gate, HeartbeatBoard(), queue.Queue(), self.peers, services,
                                   clock=clock)
                self.peers[name].ref = cls.start(ctx)

    def stop(self) -> None:
        for h in self.peers:
            if h.ref is not None and h.ref.is_alive():
                h.ref.stop()
        self.ledger.close()


@pytest.fixture
def tree(tmp_path: Path):
    made: list[Tree] = []

    def make(settings: Settings, names: tuple[str, ...] = ("alerter", "guardian"),
             clock: Callable[[], float] = time.time) -> Tree:
        t = Tree(tmp_path, settings, names, clock)
        made.append(t)
        return t

    yield make
    for t in made:
        t.stop()


class TestKillSwitch:
    def test_stop_one_critical_embed_one_trigger_reset_one_resolve(self, standins, tree):
        """A kill-switch stop → one CRITICAL embed and one PagerDuty trigger; the reset → one resolve of the
        same dedup_key (and a WARNING embed), nothing else reaches PagerDuty."""
        discord, pd = standins("discord"), standins("pagerduty")
        t = tree(settings_for(discord, pd))
        guardian = t.peers["guardian"].ref
        guardian.ask(EmergencyStop("test", "operator stop"), timeout=10)
        assert pd.wait_for(lambda s: len(s.events) == 1)
        assert discord.wait_for(lambda s: len(s.embeds()) == 1)
        guardian.ask(Reset("test", "all clear"), timeout=10)
        assert pd.wait_for(lambda s: len(s.events) == 2)
        assert discord.wait_for(lambda s: len(s.embeds()) == 2)
        (trigger,) = pd.of("trigger")
        (resolve,) = pd.of("resolve")
        assert trigger["payload"]["severity"] == "critical"
        assert resolve["dedup_key"] == trigger["dedup_key"]
        assert pd.open == set()
        crit, reset = discord.embeds()
        assert crit["title"].startswith("[CRITICAL] kill switch")
        assert reset["title"].startswith("[WARNING]")
        assert discord.messages()[0].body["content"] == "@here"

    def test_second_critical_joins_the_open_incident(self, standins, tree):
        """Two CRITICAL alerts before a reset share one dedup_key (one incident in PagerDuty)."""
        pd = standins("pagerduty")
        t = tree(settings_for(pagerduty=pd), names=("alerter",))
        alerter = t.peers["alerter"].ref
        alerter.tell(Alert(Severity.CRITICAL, "orphan", (("ticker", "KX"),)))
        alerter.tell(Alert(Severity.CRITICAL, "stream lost", ()))
        alerter.tell(Alert(Severity.WARNING, "noise", ()))  # not routed to PagerDuty
        assert pd.wait_for(lambda s: len(s.events) == 2)
        assert len({e["dedup_key"] for e in pd.events}) == 1

    def test_pagerduty_429_and_5xx_retried(self, standins, tree):
        """429 then 500: the trigger is retried until PagerDuty accepts it."""
        pd = standins("pagerduty")
        pd.fail_next.extend([429, 500])
        t = tree(settings_for(pagerduty=pd), names=("alerter",))
        t.peers["alerter"].ref.tell(Alert(Severity.CRITICAL, "halt", ()))
        assert pd.wait_for(lambda s: len(s.events) == 1)
        assert [s.status for s in pd.seen] == [429, 500, 202]


class TestRouting:
    def test_routes_from_config(self, standins, tree):
        """Routing is configuration: with a route sending only trades to the webhook, a warning skips it."""
        hook, discord = standins("webhook"), standins("discord")
        routes = ({"channel": "discord"}, {"channel": "webhook", "kinds": ["trade"]})
        t = tree(settings_for(discord, webhook=hook, routes=routes), names=("alerter",))
        alerter = t.peers["alerter"].ref
        alerter.tell(Alert(Severity.WARNING, "slow", ()))
        alerter.tell(FillBooked("t1", "c1", "KX-A", Decimal("3"), Decimal("0.42"), Decimal("0.02"),
                                Decimal("1.10"), side="yes", action="buy"))
        assert discord.wait_for(lambda s: len(s.embeds()) == 2)
        assert hook.wait_for(lambda s: len(s.seen) == 1)
        body = hook.seen[0].body
        assert body["kind"] == "trade"
        assert body["fields"]["ticker"] == "KX-A"
        names = [f["name"] for f in discord.embeds()[1]["fields"]]
        assert names == ["ticker", "side", "count", "price", "P&L", "reason"]

    def test_digest_collects_trades(self, standins, tree):
        """With trade_notices = digest, fills become one alert when the digest is due (on a heartbeat)."""
        discord = standins("discord")
        now = [time.time()]
        t = tree(settings_for(discord, trade_notices="digest", digest_minutes=1), names=("alerter",),
                 clock=lambda: now[0])
        alerter = t.peers["alerter"].ref
        for i in range(3):
            alerter.tell(FillBooked(f"t{i}", "c", "KX", Decimal(1), Decimal("0.5"), Decimal(0)))
        alerter.ask(Ping(1), timeout=5)
        assert discord.seen == []  # not due yet
        now[0] += 61
        alerter.ask(Ping(2), timeout=5)
        assert discord.wait_for(lambda s: len(s.embeds()) == 1)
        assert discord.embeds()[0]["title"] == "[INFO] 3 trades confirmed"


CHILD = textwrap.dedent("""
    import sys, queue
    from pydantic import SecretStr
    from kalshi_guard.actors.alerter import Alerter
    from kalshi_guard.actors.base import ActorContext, HeartbeatBoard
    from kalshi_guard.actors.messages import Alert, Ping, Severity
    from kalshi_guard.actors.peers import Peers
    from kalshi_guard.config.schema import AlertSettings, Settings
    from kalshi_guard.core.gate import TradingGate
    from kalshi_guard.ledger import Ledger
    db, url = sys.argv[1], sys.argv[2]
    led = Ledger.open(db)
    s = Settings()
    s = s.model_copy(update={"alerts": s.alerts.model_copy(update={"discord_webhook_url": SecretStr(url),
                                                                   "backoff_initial_s": 0.05, "backoff_max_s": 0.1})})
    peers = Peers(["alerter"])
    ctx = ActorContext("alerter", 1, TradingGate(), HeartbeatBoard(), queue.Queue(), peers,
                       {"ledger": led, "settings": s})
    ref = Alerter.start(ctx)
    for i in range(50):
        ref.tell(Alert(Severity.WARNING, f"crash {i}", ()))
    ref.ask(Ping(0), timeout=30)  # a heartbeat after the tells: all 50 are in the outbox
    print("queued", flush=True)
    sys.stdin.read()
""")


class TestCrash:
    def test_kill_9_with_undelivered_alerts_delivered_after_restart(self, standins, tmp_path):
        """A process queues 50 alerts while Discord answers 503, then is killed with SIGKILL; a new alerter
        on the same ledger delivers every one of them once Discord answers."""
        discord = standins("discord")
        discord.fail_next.extend([503] * 1000)
        db = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        proc = subprocess.Popen([sys.executable, "-c", CHILD, db, discord.url], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "queued"
            assert discord.wait_for(lambda s: len(s.seen) >= 1)  # it tried, and failed
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        discord.fail_next.clear()
        led = Ledger.open(db)
        try:
            assert len(led.due_alerts("discord", 4e9, 1000)) == 50
            settings = settings_for(discord)
            peers = Peers(["alerter"])
            ctx = ActorContext("alerter", 1, TradingGate(), HeartbeatBoard(), queue.Queue(), peers,
                               {"ledger": led, "settings": settings})
            ref = Alerter.start(ctx)
            try:
                assert discord.wait_for(lambda s: len(s.embeds()) >= 50)
            finally:
                ref.stop()
            assert sorted(e["title"] for e in discord.embeds()) == sorted(f"[WARNING] crash {i}" for i in range(50))
            assert led.due_alerts("discord", 4e9, 1000) == []
        finally:
            led.close()


class TestDailySummary:
    def test_summary_once_after_the_day_ends(self, standins, tree):
        """When the clock passes midnight UTC, one summary of the day that ended is sent and recorded; a
        second heartbeat the same day sends nothing more."""
        from datetime import UTC, datetime

        discord = standins("discord")
        now = [datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()]
        t = tree(settings_for(discord), names=("alerter",), clock=lambda: now[0])
        alerter = t.peers["alerter"].ref
        alerter.ask(Ping(1), timeout=5)
        assert t.ledger.activity("DAILY_SUMMARY") == []
        now[0] += 86400  # the next day
        alerter.ask(Ping(2), timeout=5)
        alerter.ask(Ping(3), timeout=5)
        assert discord.wait_for(lambda s: len(s.embeds()) == 1)
        (row,) = t.ledger.activity("DAILY_SUMMARY")
        assert row.details["day"] == "2026-11-30"
        embed = discord.embeds()[0]
        assert embed["title"] == "[INFO] daily summary 2026-11-30"
        assert [f["name"] for f in embed["fields"]] == ["P&L", "trades", "kill-switch events"]
