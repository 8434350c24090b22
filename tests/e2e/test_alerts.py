"""The real daemon's alerts against loopback Discord and PagerDuty stand-ins: a stop pages once, the
reset resolves it, a kill -9 loses nothing, and the webhook URL and routing key stay secret."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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
