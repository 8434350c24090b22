"""``kalshi-guard test-alert``: one alert of each severity per channel, the answers printed, no secret shown."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from kalshi_guard.control.cli import main
from kalshi_guard.ledger import Ledger


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if (name.startswith("KALSHI_GUARD_") and not name.startswith("KALSHI_GUARD_TEST_")) or name in (
            "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "LOGS_DIRECTORY"
        ):
            monkeypatch.delenv(name)


def config(tmp_path: Path, discord, pd) -> Path:
    cfg = tmp_path / "kalshi-guard.toml"
    cfg.write_text(textwrap.dedent(f"""
        state_dir = "{tmp_path / 'state'}"

        [alerts]
        discord_webhook_url = "{discord.url}"
        pagerduty_routing_key = "{pd.ROUTING_KEY}"
        pagerduty_url = "{pd.url}"
    """))
    return cfg


class TestTestAlert:
    def test_every_channel_every_severity(self, standins, tmp_path, capsys) -> None:
        """Discord gets three messages (only the critical says @here); PagerDuty three events of one test
        incident, resolved at once (none left open); the output names each answer and no secret."""
        discord, pd = standins("discord"), standins("pagerduty")
        assert main(["test-alert", "--config", str(config(tmp_path, discord, pd))]) == 0
        out = capsys.readouterr().out
        assert [m.body["embeds"][0]["title"] for m in discord.messages()] == [
            "[INFO] test alert (info)", "[WARNING] test alert (warning)", "[CRITICAL] test alert (critical)"]
        assert [m.body.get("content") for m in discord.messages()] == [None, None, "@here"]
        assert [e["event_action"] for e in pd.events] == ["trigger", "trigger", "trigger", "resolve"]
        assert len({e["dedup_key"] for e in pd.events}) == 1
        assert pd.open == set()
        assert out.count("sent") == 7
        assert discord.TOKEN not in out
        assert pd.ROUTING_KEY not in out
        led = Ledger.open(f"sqlite:///{tmp_path / 'state' / 'ledger.sqlite'}")
        try:
            rows = led.activity("TEST_ALERT")
        finally:
            led.close()
        assert sorted((r.details["channel"], r.details["ok"]) for r in rows) == [("discord", True),
                                                                                 ("pagerduty", True)]

    def test_one_channel_and_a_refusal(self, standins, tmp_path, capsys) -> None:
        """--channel limits the test to one channel; a 404 webhook is reported and exits 1, token hidden."""
        discord, pd = standins("discord"), standins("pagerduty")
        discord.fail_next.extend([404] * 3)
        assert main(["test-alert", "--config", str(config(tmp_path, discord, pd)), "--channel", "discord"]) == 1
        out = capsys.readouterr().out
        assert "permanent" in out
        assert "404" in out
        assert pd.seen == []
        assert discord.TOKEN not in out
