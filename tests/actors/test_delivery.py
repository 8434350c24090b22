"""Specification of delivery from the outbox: against stand-ins that enforce Discord's and PagerDuty's
documented limits, every alert arrives, coalesced, without breaking a limit, and secrets stay secret."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from loguru import logger
from pydantic import SecretStr

from kalshi_guard.actors.delivery import ChannelWorker, build_channels
from kalshi_guard.actors.discord import DiscordChannel
from kalshi_guard.config.schema import AlertSettings
from kalshi_guard.ledger import DeliveryStatus, Ledger

SCALE = 0.02  # the stand-in's windows: 2 s → 40 ms, 60 s → 1.2 s (the limits themselves are the real ones)
CFG = AlertSettings(backoff_initial_s=0.01, backoff_max_s=0.05, timeout_s=5)


@pytest.fixture
def ledger(tmp_path: Path):
    led = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield led
    led.close()


@pytest.fixture
def captured():
    """Every log line (loguru) written during the test, as text."""
    buf = io.StringIO()
    sink = logger.add(buf, level="DEBUG", format="{message} {extra}")
    yield buf
    logger.remove(sink)


def undelivered(ledger: Ledger, channel: str) -> int:
    return len(ledger.due_alerts(channel, 4e9, 10_000))


def worker_for(channel, ledger: Ledger, cfg: AlertSettings = CFG) -> ChannelWorker:
    w = ChannelWorker(channel, ledger, cfg)
    w.start()
    return w


class TestDiscordBurst:
    def test_thousand_alerts_all_delivered_coalesced_within_limits(self, standins, ledger, captured):
        """1,000 alerts reach the stand-in as ≤10-embed messages (about 100 requests); the only 4xx is 429,
        the announced per-webhook bucket is never overrun, and no accepted request breaks 5/2 s or 30/60 s."""
        discord = standins("discord", scale=SCALE)
        for i in range(1000):
            sev = ("info", "warning", "critical")[i % 3]
            ledger.enqueue_alert(sev, f"alert {i}", [("ticker", f"KX-{i}"), ("reason", "burst")], channels=["discord"])
        w = worker_for(DiscordChannel(discord.url), ledger)
        try:
            assert discord.wait_for(lambda s: len(s.embeds()) >= 1000, timeout=60)
        finally:
            w.stop()
        titles = sorted(e["title"] for e in discord.embeds())
        assert len(titles) == 1000
        assert len(set(titles)) == 1000
        assert undelivered(ledger, "discord") == 0
        assert len(discord.messages()) <= 110
        statuses = {s.status for s in discord.seen}
        assert statuses <= {200, 429}
        assert discord.bad_bodies == []
        assert discord.bucket_429 == 0
        assert discord.max_in_window(discord.webhook.span) <= 5
        assert discord.max_in_window(discord.channel.span) <= 30
        assert all(s.path.startswith("/api/v10/webhooks/") and "wait=true" in s.query for s in discord.seen)
        assert DiscordStandInToken(discord) not in captured.getvalue()

    def test_critical_mentions_here_with_allowed_mentions(self, standins, ledger):
        """A message with a CRITICAL embed says @here and allows only that; others allow no mention at all."""
        discord = standins("discord")
        ledger.enqueue_alert("critical", "halted", [("reason", "x")], channels=["discord"])
        w = worker_for(DiscordChannel(discord.url), ledger)
        assert discord.wait_for(lambda s: len(s.messages()) == 1)
        ledger.enqueue_alert("info", "fyi @everyone", [], channels=["discord"])
        w.wake()
        assert discord.wait_for(lambda s: len(s.messages()) == 2)
        w.stop()
        crit, info = (m.body for m in discord.messages())
        assert crit["content"] == "@here"
        assert crit["allowed_mentions"] == {"parse": ["everyone"]}
        assert crit["embeds"][0]["color"] == 0xE74C3C
        assert "content" not in info
        assert info["allowed_mentions"] == {"parse": []}

    def test_oversized_alerts_fit_the_6000_total(self, standins, ledger):
        """Ten alerts with huge fields are split or trimmed so that no message breaks an embed limit."""
        discord = standins("discord")
        for _ in range(10):
            ledger.enqueue_alert("warning", "t" * 300, [(f"f{j}", "v" * 2000) for j in range(30)], channels=["discord"])
        w = worker_for(DiscordChannel(discord.url), ledger)
        assert discord.wait_for(lambda s: len(s.embeds()) == 10)
        w.stop()
        assert discord.bad_bodies == []
        assert undelivered(ledger, "discord") == 0


def DiscordStandInToken(discord) -> str:
    return discord.TOKEN


class TestFailures:
    def test_429_retry_after_in_seconds_is_honoured(self, standins, ledger):
        """A 429 is waited out (retry_after seconds) and not counted as a failed attempt."""
        discord = standins("discord", scale=SCALE, per_webhook=1)
        for i in range(3):
            ledger.enqueue_alert("info", f"a{i}", [], channels=["discord"])
        channel = DiscordChannel(discord.url)
        channel.pack = lambda due: list(due[:1])  # one per request, to meet the bucket
        w = worker_for(channel, ledger)
        assert discord.wait_for(lambda s: len(s.embeds()) == 3)
        w.stop()
        assert discord.max_in_window(discord.webhook.span) <= 1
        ids = [a for a in range(1, 4)]
        assert all(ledger.alert_delivery(i)["discord"][:2] == (DeliveryStatus.SENT, 1) for i in ids)

    @pytest.mark.parametrize("status", [401, 404])
    def test_401_404_stop_the_channel(self, standins, ledger, status, captured):
        """An unknown webhook or bad token is permanent: one request, no retry, the worker stops with a
        local error, the alerts wait in the outbox for a fixed configuration, and the token is in no log."""
        discord = standins("discord")
        discord.fail_next.extend([status] * 5)
        ledger.enqueue_alert("critical", "halted", [], channels=["discord"])
        ledger.enqueue_alert("info", "later", [], channels=["discord"])
        w = worker_for(DiscordChannel(discord.url), ledger)
        w._thread.join(10)
        assert not w.alive()
        assert w.error is not None
        assert w.error.permanent
        assert len(discord.seen) == 1
        assert undelivered(ledger, "discord") == 2
        assert ledger.activity("ALERT_CHANNEL_DISABLED")
        assert discord.TOKEN not in captured.getvalue()
        assert discord.TOKEN not in str(w.error)

    def test_5xx_retried_with_backoff_then_delivered(self, standins, ledger):
        """503 twice, then success: the alert is delivered with three attempts recorded."""
        hook = standins("webhook")
        hook.fail_next.extend([503, 502])
        ledger.enqueue_alert("warning", "w", [], channels=["webhook"])
        (channel,) = build_channels(AlertSettings(webhook_url=SecretStr(hook.url))).values()
        w = worker_for(channel, ledger)
        assert hook.wait_for(lambda s: [x.status for x in s.seen] == [503, 502, 200])
        w.stop()
        assert ledger.alert_delivery(1)["webhook"][:2] == (DeliveryStatus.SENT, 3)

    def test_bad_message_in_a_batch_does_not_sink_its_neighbours(self, standins, ledger):
        """A 400 for a coalesced message is retried alert by alert: the good ones arrive."""
        discord = standins("discord")
        discord.fail_next.append(400)
        for i in range(3):
            ledger.enqueue_alert("info", f"a{i}", [], channels=["discord"])
        w = worker_for(DiscordChannel(discord.url), ledger)
        assert discord.wait_for(lambda s: len(s.embeds()) == 3)
        w.stop()
        assert [len(m.body["embeds"]) for m in discord.messages()] == [1, 1, 1]
