"""The real daemon, end to end: SIGUSR1 halts everything, HALTED survives kill -9, reset is authenticated."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kalshi_guard.ledger.store import Ledger
from tests.waiting import wait_until

from .conftest import Daemon, restart

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TRADING = {"reconciler", "fill_watcher", "order_placer"}


def ledger_of(d: Daemon) -> Ledger:
    return Ledger.open(f"sqlite:///{d.state / 'ledger.sqlite'}")


def halted_actors(d: Daemon) -> set[str]:
    led = ledger_of(d)
    try:
        return {r.details.get("actor") for r in led.activity("HALT", limit=50)}
    finally:
        led.close()


def threads_taking_sigusr1(pid: int) -> list[int]:
    """The daemon's threads (by id) that do not block SIGUSR1, read from /proc."""
    bit = 1 << (signal.SIGUSR1 - 1)
    taking = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        fields = dict(line.split(":", 1) for line in (task / "status").read_text().splitlines() if ":" in line)
        if not int(fields["SigBlk"].strip(), 16) & bit:
            taking.append(int(task.name))
    return taking


class TestEmergencyStop:
    def test_sigusr1_is_delivered_to_one_thread_only_not_the_main_thread(
        self, daemon_factory: Callable[..., Daemon]
    ) -> None:
        """Running, the daemon leaves SIGUSR1 to exactly one thread (the order placer's), never the main
        thread sleeping in select — and SIGUSR1 still closes the gate."""
        d = daemon_factory()
        d.start()
        d.wait_ready()
        assert d.proc is not None
        taking = threads_taking_sigusr1(d.proc.pid)
        assert len(taking) == 1
        assert taking != [d.proc.pid], "the main thread blocks SIGUSR1"
        d.signal(signal.SIGUSR1)
        d.wait_notify("gate=HALTED")
        assert d.status()["gate"]["source"] == "signal"

    def test_sigusr1_halts_every_trading_actor_and_is_audited(self, daemon_factory: Callable[..., Daemon],
                                                               standins: Callable[..., Any]) -> None:
        """SIGUSR1 closes the gate, every trading actor receives Halt, one KILL_SWITCH row records the stop's
        steps (cancel-all done) and the kill-switch alert reaches Discord."""
        discord = standins("discord")
        d = daemon_factory(KALSHI_GUARD_ALERTS__DISCORD_WEBHOOK_URL=discord.url)
        d.start()
        d.wait_ready()
        assert d.status()["gate"]["state"] == "ACTIVE"
        d.signal(signal.SIGUSR1)
        d.wait_notify("gate=HALTED")
        status = d.status()
        assert status["gate"]["state"] == "HALTED"
        assert status["gate"]["source"] == "signal"
        wait_until(lambda: halted_actors(d) >= TRADING, what="Halt acknowledged by every trading actor")
        led = ledger_of(d)
        try:
            rows = wait_until(lambda: led.activity("KILL_SWITCH", limit=10), what="the KILL_SWITCH row")
            assert len(rows) == 1, "one stop, one row"
            assert set(rows[0].details["halted"]) == TRADING
            steps = {s["step"]: s for s in rows[0].details["steps"]}
            assert steps["cancel_all"]["ok"], steps
            assert discord.wait_for(lambda s: any("kill switch" in e["title"] for e in s.embeds()), timeout=30)
        finally:
            led.close()
        assert d.proc is not None
        assert d.proc.poll() is None, "the daemon stays up, HALTED"

    def test_http_emergency_stop_needs_the_token(self, daemon_factory: Callable[..., Daemon]) -> None:
        """POST /api/bot/emergency-stop without the token is 401 and changes nothing; with it, HALTED."""
        d = daemon_factory()
        d.start()
        d.wait_ready()
        assert d.api("POST", "/api/bot/emergency-stop", token=None).status_code == 401
        assert d.api("POST", "/api/bot/emergency-stop", token="x" * 43).status_code == 401
        assert d.status()["gate"]["state"] == "ACTIVE"
        r = d.api("POST", "/api/bot/emergency-stop", json={"reason": "operator drill"})
        assert r.status_code == 200
        assert r.json()["result"]["state"] == "HALTED"
        assert d.status()["gate"]["reason"] == "operator drill"
        wait_until(lambda: halted_actors(d) >= TRADING, what="Halt acknowledged by every trading actor")

    def test_status_shows_the_last_stop_until_every_step_has_run(self, daemon_factory: Callable[..., Daemon]
                                                                  ) -> None:
        """The stop's answer does not wait for the exchange steps; /api/status says when they have run (a
        caller that audits after a stop waits for ``done``)."""
        d = daemon_factory()
        d.start()
        d.wait_ready()
        assert d.status()["last_stop"] is None
        assert d.api("POST", "/api/bot/emergency-stop", json={"reason": "drill"}).status_code == 200
        stop = wait_until(lambda: (s := d.status()["last_stop"]) is not None and s["done"] and s,
                          what="the stop's last step")
        assert stop["reason"] == "drill"
        assert [s["step"] for s in stop["steps"]] == ["gate_closed", "work_dropped", "order_group", "cancel_all",
                                                      "flatten"]


class TestLatch:
    def test_halted_survives_kill_9_and_only_an_authenticated_reset_lifts_it(
        self, daemon_factory: Callable[..., Daemon], tmp_path: Path
    ) -> None:
        """After SIGUSR1 and kill -9 the restarted daemon is HALTED; reset needs the token and a reason."""
        state = tmp_path / "state"
        d = daemon_factory(state)
        d.start()
        d.wait_ready()
        d.signal(signal.SIGUSR1)
        d.wait_notify("gate=HALTED")
        d2 = restart(d, daemon_factory, signal.SIGKILL)
        status = d2.status()
        assert status["gate"]["state"] == "HALTED"
        before = status["gate"]
        assert d2.api("POST", "/api/bot/reset", token=None, json={"reason": "x"}).status_code == 401
        wrong = "wrong-token-wrong-token"
        assert d2.api("POST", "/api/bot/reset", token=wrong, json={"reason": "x"}).status_code == 401
        assert d2.status()["gate"] == before, "a refused reset changes nothing"
        assert d2.api("POST", "/api/bot/reset", json={}).status_code == 400
        r = d2.api("POST", "/api/bot/reset", json={"reason": "reviewed after drill"})
        assert r.status_code == 200, r.text
        assert d2.status()["gate"]["state"] == "ACTIVE"
        led = ledger_of(d2)
        try:
            resets = led.activity("RESET", limit=5)
            assert resets
            assert "reviewed after drill" in resets[0].message
        finally:
            led.close()

    def test_unclean_shutdown_boots_halted(self, daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
        """kill -9 of an ACTIVE daemon: the next run boots HALTED (never assume all was well)."""
        state = tmp_path / "state"
        d = daemon_factory(state)
        d.start()
        d.wait_ready()
        d2 = restart(d, daemon_factory, signal.SIGKILL)
        gate = d2.status()["gate"]
        assert gate["state"] == "HALTED"
        assert "unclean" in gate["reason"]

    def test_clean_stop_does_not_latch(self, daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
        """SIGTERM stops in order (STOPPING=1, exit 0) and the next run opens the gate."""
        state = tmp_path / "state"
        d = daemon_factory(state)
        d.start()
        d.wait_ready()
        d.signal(signal.SIGTERM)
        d.wait_notify("STOPPING=1")
        assert d.wait_exit() == 0
        d.close()
        d2 = daemon_factory(state)
        d2.start()
        d2.wait_ready()
        assert d2.status()["gate"]["state"] == "ACTIVE"


class TestReload:
    def test_invalid_reload_is_refused_and_the_old_limits_stay(
        self, daemon_factory: Callable[..., Daemon], tmp_path: Path
    ) -> None:
        """SIGHUP with a broken config file keeps running on the old one; a valid one is applied."""
        cfg = tmp_path / "guard.toml"
        cfg.write_text('mode = "paper"\n[limits]\nmax_daily_loss = "40"\n')
        d = daemon_factory()
        d.start(config=cfg)
        d.wait_ready()
        cfg.write_text('mode = "paper"\n[limits]\nmax_daily_loss = "-1"\n')
        d.signal(signal.SIGHUP)
        led = ledger_of(d)
        try:
            wait_until(lambda: led.activity("CONFIG", limit=5), what="the reload verdict")
            assert led.activity("CONFIG", limit=5)[0].message == "reload refused"
            cfg.write_text('mode = "paper"\n[limits]\nmax_daily_loss = "30"\n')
            d.signal(signal.SIGHUP)
            wait_until(lambda: led.activity("CONFIG", limit=5)[0].message == "limits reloaded", what="the reload")
            assert any("max_daily_loss" in c for c in led.activity("CONFIG", limit=5)[0].details["changes"])
        finally:
            led.close()
        assert d.proc is not None
        assert d.proc.poll() is None


class TestConfigErrors:
    def test_bad_config_exits_78_without_starting(self, daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
        """A malformed config makes `run` exit 78 (systemd will not restart it) with a one-line error."""
        cfg = tmp_path / "bad.toml"
        cfg.write_text("[limits]\nmax_daily_loss = \n")
        d = daemon_factory()
        d.start(config=cfg)
        assert d.wait_exit() == 78
        err = d.stderr()
        assert "config error:" in err
        assert "Traceback" not in err


class TestInProcessBot:
    def test_bot_runs_in_the_daemon_through_the_facade(
        self, daemon_factory: Callable[..., Daemon], tmp_path: Path
    ) -> None:
        """`run --bot module:function` hands the bot the in-process facade once READY; its order is confirmed."""
        out = tmp_path / "bot-result.json"
        (tmp_path / "mybot.py").write_text(
            "import json\n"
            "from kalshi_guard.simulator.markets import DEFAULT_TICKERS\n"
            "def run(trading, stop):\n"
            "    conf = trading.place_and_confirm(DEFAULT_TICKERS[0], 'yes', 'buy', '1', '0.99', 'ioc')\n"
            f"    open({str(out)!r}, 'w').write(json.dumps(conf.to_json()))\n"
        )
        d = daemon_factory(PYTHONPATH=str(tmp_path), KALSHI_GUARD_LIMITS__PRICE_COLLAR="1")  # a marketable limit
        d.start(extra_args=["--bot", "mybot:run"])
        d.wait_ready()
        result = wait_until(lambda: out.exists() and out.read_text(), what="the bot's confirmation")
        import json

        conf = json.loads(result)
        assert conf["status"] == "FILLED"
        led = ledger_of(d)
        try:
            order = led.get_order(conf["client_order_id"])
            assert order is not None
            assert order.status.value == "FILLED"
        finally:
            led.close()


class TestSecrets:
    def test_planted_secrets_never_leave_the_daemon(
        self, daemon_factory: Callable[..., Daemon], tmp_path: Path
    ) -> None:
        """Secrets given as systemd credentials appear in no API response, no stderr line, no JSON log line."""
        creds = tmp_path / "creds"
        creds.mkdir()
        planted = {
            "control-token": "tok-PLANTED-0123456789abcdef",
            "discord-webhook-url": "https://discord.com/api/webhooks/123/PLANTEDwebhookSECRET",
            "pagerduty-routing-key": "PLANTEDroutingKEY0123456789abcdef",
        }
        for name, value in planted.items():
            (creds / name).write_text(value)
            (creds / name).chmod(0o600)
        d = daemon_factory(CREDENTIALS_DIRECTORY=str(creds))
        d.start()
        d.wait_ready()
        token = planted["control-token"]
        responses = [
            d.api("GET", "/api/status", token=token).text,
            d.api("GET", "/api/health", token=None).text,
            d.api("GET", "/api/orders", token=token).text,
            d.api("POST", "/api/bot/emergency-stop", token=token, json={"reason": "drill"}).text,
            d.api("POST", "/api/bot/reset", token=token, json={"reason": "drill over"}).text,
        ]
        assert "HALTED" in responses[3]
        d.signal(signal.SIGTERM)
        d.wait_exit()
        logs = "".join(p.read_text() for p in (d.state / "logs").glob("*.jsonl"))
        assert logs, "the JSON log was written"
        for value in planted.values():
            for text in [*responses, d.stderr(), logs]:
                assert value not in text
            assert "PLANTED" not in logs


class TestEarlySignal:
    def test_sigusr1_during_start_up_is_not_fatal_and_boots_halted(self, daemon_factory: Callable[..., Daemon]) -> None:
        """A SIGUSR1 that arrives while the daemon is still starting closes the gate as soon as it exists."""
        d = daemon_factory()
        d.start()
        d.wait_notify("signal handlers armed")
        d.signal(signal.SIGUSR1)
        d.wait_ready()
        gate = d.status()["gate"]
        assert gate["state"] == "HALTED"
        assert "SIGUSR1" in gate["reason"]
        wait_until(lambda: halted_actors(d) >= TRADING, what="Halt acknowledged by every trading actor")
