"""The live switch's one-time challenges and the mode a switch records (control.mode)."""

from __future__ import annotations

import pytest

from kalshi_guard.config.schema import ExchangeSettings, GoLiveSettings, Mode, Settings
from kalshi_guard.control.mode import Challenges, SwitchRefused, record_mode, recorded_mode, settings_for
from kalshi_guard.core.errors import ConfigError
from kalshi_guard.ledger import Ledger


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class TestChallenges:
    def test_a_challenge_is_good_once(self):
        c = Challenges(Clock())
        token = c.issue().token
        c.spend(token)
        with pytest.raises(SwitchRefused) as info:
            c.spend(token)
        assert info.value.status == 410

    def test_an_expired_challenge_is_refused(self):
        clock = Clock()
        c = Challenges(clock, ttl_s=120)
        token = c.issue().token
        clock.t += 120.5
        with pytest.raises(SwitchRefused, match="expired"):
            c.spend(token)

    def test_an_unknown_challenge_is_refused(self):
        with pytest.raises(SwitchRefused, match="unknown"):
            Challenges(Clock()).spend("made-up")

    def test_challenges_are_distinct_and_unguessable(self):
        c = Challenges(Clock())
        tokens = {c.issue().token for _ in range(100)}
        assert len(tokens) == 100
        assert all(len(t) >= 32 for t in tokens)


class TestRecordedMode:
    def test_the_latest_switch_wins(self, tmp_path):
        ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}")
        try:
            assert recorded_mode(ledger) is None
            record_mode(ledger, Mode.LIVE, "http", "checked", {"ok": True})
            record_mode(ledger, Mode.PAPER, "http", "back", None)
            assert recorded_mode(ledger) is Mode.PAPER
            (row,) = ledger.activity("MODE", limit=1)
            assert "PAPER" in row.message
        finally:
            ledger.close()

    def test_live_trades_on_the_golive_exchange_or_refuses_to_start(self, tmp_path):
        live = ExchangeSettings(environment="demo", key_id="k", private_key_file=tmp_path / "k.pem")
        s = Settings(golive=GoLiveSettings(exchange=live))
        switched = settings_for(s, Mode.LIVE)
        assert (switched.mode, switched.exchange) == (Mode.LIVE, live)
        assert settings_for(switched, Mode.PAPER).exchange.environment.value == "simulator"
        with pytest.raises(ConfigError, match=r"golive\.exchange"):
            settings_for(Settings(), Mode.LIVE)
