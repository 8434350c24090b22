"""Specification of the alerts held while the outbox cannot be written: sent straight by the real delivery
workers to loopback stand-ins, kept for the outbox only on the channels that did not confirm them, void once
the outbox takes them, bounded with INFO dropped first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from pydantic import SecretStr

from kalshi_guard.actors.delivery import ChannelWorker, build_channels
from kalshi_guard.actors.held_alerts import HELD_MAX, RETRY_S, HeldAlerts
from kalshi_guard.config.schema import AlertSettings
from kalshi_guard.core.errors import LedgerError
from kalshi_guard.ledger import Ledger
from kalshi_guard.ledger.outbox import QueuedAlert
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)
FAILED = LedgerError("database or disk is full")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def critical(title: str = "kill switch: trading halted", channels: tuple[str, ...] = ("discord", "pagerduty")):
    return QueuedAlert("CRITICAL", title, (("reason", "drill"), ("_incident", "kalshi-guard-test")), None, channels)


@pytest.fixture
def workers(tmp_path: Path, standins: Callable[..., Any]) -> Iterator[tuple[dict[str, ChannelWorker], Any, Any]]:
    """Real delivery workers for a Discord and a PagerDuty stand-in (their ledger is real and empty)."""
    discord, pd = standins("discord"), standins("pagerduty")
    cfg = AlertSettings.model_validate({"discord_webhook_url": SecretStr(discord.url), "backoff_initial_s": 0.01,
                                        "pagerduty_routing_key": SecretStr(pd.ROUTING_KEY),
                                        "pagerduty_url": pd.url, "backoff_max_s": 0.05})
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    made = {name: ChannelWorker(channel, ledger, cfg) for name, channel in build_channels(cfg).items()}
    for w in made.values():
        w.start()
    yield made, discord, pd
    for w in made.values():
        w.stop()
    ledger.close()


class TestHeldAlerts:
    def test_a_held_alert_reaches_every_channel_straight_and_is_then_forgotten(self, workers) -> None:
        """The outbox refused a CRITICAL alert: both channels deliver it from memory, and nothing is left
        for the outbox to take."""
        made, discord, pd = workers
        held = HeldAlerts(made, Clock(), logger)
        held.hold([critical()], FAILED)
        wait_until(lambda: discord.embeds() and pd.of("trigger"), what="the alert on both channels")
        assert discord.embeds()[0]["title"].startswith("[CRITICAL]")
        assert pd.of("trigger")[0]["dedup_key"] == "kalshi-guard-test"
        wait_until(lambda: held.rows() == [], what="the held alert confirmed everywhere")

    def test_a_channel_that_is_down_keeps_the_alert_for_the_outbox_on_that_channel_only(self, workers) -> None:
        """Discord answers 503: PagerDuty has the alert; the outbox is offered it for Discord alone, and once
        the outbox takes it the worker stops sending it straight."""
        made, discord, pd = workers
        discord.fail_next.extend([503] * 10_000)
        held = HeldAlerts(made, Clock(), logger)
        held.hold([critical()], FAILED)
        wait_until(lambda: pd.of("trigger") and len(discord.seen) >= 2, what="PagerDuty sent, Discord retried")
        [row] = wait_until(lambda: (rows := held.rows()) and rows[0].channels == ("discord",) and rows,
                           what="the alert pending on Discord only")
        assert row.title == "kill switch: trading halted"
        item = held.items[0]
        held.queued()
        assert not item.wanted_on("discord")
        assert len(held) == 0

    def test_new_alerts_are_held_at_once_until_the_outbox_is_due_again(self) -> None:
        """After a refusal the outbox is not asked again for ``RETRY_S`` (new alerts are held and sent
        straight at once); then it is."""
        clock = Clock()
        held = HeldAlerts({}, clock, logger)
        assert not held.waiting()
        held.hold([critical(channels=("discord",))], FAILED)
        assert held.waiting()
        clock.now += RETRY_S
        assert not held.waiting()

    def test_the_bound_drops_the_oldest_info_alert_first(self) -> None:
        """Past ``HELD_MAX`` the oldest INFO alert goes; a CRITICAL one older than it stays."""
        held = HeldAlerts({}, Clock(), logger)
        info = [QueuedAlert("INFO", f"trade {n}", (), None, ("discord",)) for n in range(HELD_MAX)]
        held.hold([critical(), *info], FAILED)
        assert len(held) == HELD_MAX
        assert held.dropped == 1
        titles = [h.row.title for h in held.items]
        assert titles[0] == "kill switch: trading halted"
        assert "trade 0" not in titles
        assert titles[-1] == f"trade {HELD_MAX - 1}"
