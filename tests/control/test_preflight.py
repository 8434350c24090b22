"""The pre-live checklist (control.preflight): every check PASSes on a good setup — a simulator on its own port
standing in for the live exchange — and each FAILs on its own bad setup, with a fix."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from kalshi_guard.config.schema import (
    AlertSettings,
    BackupSettings,
    ExchangeSettings,
    GoLiveSettings,
    RolloutStage,
    Settings,
)
from kalshi_guard.control.preflight import Verdict, format_report, run_preflight
from kalshi_guard.exchange.keys import generate_private_key, write_private_key
from kalshi_guard.ledger import Ledger
from kalshi_guard.simulator.testing import running_simulator

NOW = 1_800_000_000.0
ENV = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000"}


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    with running_simulator(seed=5) as s:
        yield s


def good_settings(sim: Any, tmp: Path) -> Settings:
    live = ExchangeSettings(environment="demo", base_url=sim.rest_url, ws_url=sim.ws_url, key_id=sim.key_id,
                            private_key_file=Path(sim.private_key_path), request_timeout_s=30)
    return Settings(state_dir=tmp, alerts=AlertSettings(discord_webhook_url=SecretStr("https://discord.test/api/webhooks/1/x")),
                    backup=BackupSettings(interval_s=3600),
                    golive=GoLiveSettings(exchange=live, paper_hours=24, stages=(RolloutStage(name="week 1"),)))


def good_ledger(tmp: Path) -> Ledger:
    clock = Clock(NOW - 30 * 3600)
    ledger = Ledger.open(f"sqlite:///{tmp / 'ledger.sqlite'}", clock=clock)
    ledger.begin_run(os.getpid())
    clock.t = NOW - 3600
    ledger.end_run(clean=True)  # 29 hours of paper trading
    ledger.log_activity("DRILL", "INFO", "drill passed: gate 0.1 ms, cancelled 40 ms, flat 300 ms", {})
    ledger.log_activity("TEST_ALERT", "INFO", "test alert", {"channel": "discord", "ok": True})
    ledger.log_activity("RESTORE_VERIFIED", "info", "restore verified", {})
    clock.t = NOW - 600
    ledger.record_reconciliation(NOW - 601, NOW - 600, True, {"discrepancies": []})
    return ledger


@pytest.fixture
def setup(sim, tmp_path):
    ledger = good_ledger(tmp_path)
    yield good_settings(sim, tmp_path), ledger
    ledger.close()


def verdicts(report) -> dict[str, Verdict]:
    return {c.name: c.verdict for c in report.checks}


def test_a_good_setup_passes_every_check(setup):
    settings, ledger = setup
    report = run_preflight(settings, ledger, env=ENV, now=Clock(NOW))
    assert report.ok, format_report(report)
    assert set(verdicts(report).values()) == {Verdict.PASS}
    assert [c.name for c in report.checks] == ["credentials", "clock", "reconcile", "drill", "alerts", "backups",
                                               "rollout", "paper", "systemd"]


def only_failure(report) -> str:
    failed = [c for c in report.checks if c.verdict is not Verdict.PASS]
    assert len(failed) == 1, format_report(report)
    assert failed[0].fix
    assert not report.ok or failed[0].verdict is Verdict.WARN
    return failed[0].name


class TestEachCheckFails:
    def test_a_key_the_exchange_does_not_know(self, setup, tmp_path):
        settings, ledger = setup
        key = tmp_path / "other.pem"
        write_private_key(key, generate_private_key())
        ex = settings.golive.exchange.model_copy(update={"private_key_file": key})
        bad = settings.model_copy(update={"golive": settings.golive.model_copy(update={"exchange": ex})})
        assert only_failure(run_preflight(bad, ledger, env=ENV, now=Clock(NOW))) == "credentials"

    def test_a_key_file_others_can_read(self, setup, tmp_path):
        settings, ledger = setup
        key = tmp_path / "open.pem"
        key.write_bytes(Path(settings.golive.exchange.private_key_file).read_bytes())
        key.chmod(0o644)
        ex = settings.golive.exchange.model_copy(update={"private_key_file": key})
        bad = settings.model_copy(update={"golive": settings.golive.model_copy(update={"exchange": ex})})
        report = run_preflight(bad, ledger, env=ENV, now=Clock(NOW))
        assert verdicts(report)["credentials"] is Verdict.FAIL
        assert "0644" in report.checks[0].detail

    def test_a_clock_far_off_the_exchange(self, setup):
        settings, ledger = setup
        import time

        report = run_preflight(settings, ledger, env=ENV, now=Clock(NOW), wall=lambda: time.time() + 10)
        assert verdicts(report)["clock"] is Verdict.FAIL
        assert "off the exchange's" in next(c.detail for c in report.checks if c.name == "clock")
        detail = next(c.detail for c in report.checks if c.name == "clock")
        assert float(detail.split("is ")[1].split(" s")[0]) >= 8, detail  # +10 s, give or take the load

    def test_an_unclean_reconciliation(self, setup):
        settings, ledger = setup
        ledger.record_reconciliation(NOW - 60, NOW - 59, False, {"discrepancies": [{"kind": "orphan_order"}]})
        v = verdicts(run_preflight(settings, ledger, env=ENV, now=Clock(NOW)))
        assert v["reconcile"] is Verdict.FAIL
        assert v["paper"] is Verdict.FAIL  # a discrepancy in the history fails it too
        assert {k for k, x in v.items() if x is Verdict.FAIL} == {"reconcile", "paper"}

    def test_no_recent_drill(self, setup):
        settings, ledger = setup
        late = NOW + 8 * 86400
        report = run_preflight(settings, ledger, env=ENV, now=Clock(late))
        assert verdicts(report)["drill"] is Verdict.FAIL

    def test_a_channel_never_tested(self, setup):
        settings, ledger = setup
        alerts = settings.alerts.model_copy(update={"pagerduty_routing_key": SecretStr("R" * 32)})
        bad = settings.model_copy(update={"alerts": alerts})
        assert only_failure(run_preflight(bad, ledger, env=ENV, now=Clock(NOW))) == "alerts"

    def test_backups_off(self, setup):
        settings, ledger = setup
        bad = settings.model_copy(update={"backup": BackupSettings(interval_s=0)})
        assert only_failure(run_preflight(bad, ledger, env=ENV, now=Clock(NOW))) == "backups"

    def test_no_rollout_stages(self, setup):
        settings, ledger = setup
        bad = settings.model_copy(update={"golive": settings.golive.model_copy(update={"stages": ()})})
        assert only_failure(run_preflight(bad, ledger, env=ENV, now=Clock(NOW))) == "rollout"

    def test_too_little_paper_history(self, setup):
        settings, ledger = setup
        bad = settings.model_copy(update={"golive": settings.golive.model_copy(update={"paper_hours": 100})})
        assert only_failure(run_preflight(bad, ledger, env=ENV, now=Clock(NOW))) == "paper"

    def test_a_kill_switch_never_reset(self, setup):
        settings, ledger = setup
        ledger.log_activity("KILL_SWITCH", "CRITICAL", "daily loss", {})
        assert only_failure(run_preflight(settings, ledger, env=ENV, now=Clock(NOW))) == "paper"

    def test_outside_systemd_is_a_warning_not_a_failure(self, setup):
        settings, ledger = setup
        report = run_preflight(settings, ledger, env={}, now=Clock(NOW))
        assert only_failure(report) == "systemd"
        assert report.ok

    def test_an_exchange_that_does_not_answer(self, setup):
        settings, ledger = setup
        ex = settings.golive.exchange.model_copy(update={"base_url": "http://127.0.0.1:9/trade-api/v2",
                                                          "request_timeout_s": 1.0})
        bad = settings.model_copy(update={"golive": settings.golive.model_copy(update={"exchange": ex})})
        v = verdicts(run_preflight(bad, ledger, env=ENV, now=Clock(NOW)))
        assert (v["credentials"], v["clock"]) == (Verdict.FAIL, Verdict.FAIL)
