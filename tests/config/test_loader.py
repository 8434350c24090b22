"""Tests for config.loader: layering (file, environment, credentials) and one-line problems."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_guard.config.loader import (
    DEFAULT_CONFIG,
    SECRET_PATHS,
    load_settings,
    reload_changes,
    secret_values,
    validate_reload,
)
from kalshi_guard.config.schema import Environment, Mode
from kalshi_guard.core.errors import ConfigError

EXAMPLE = DEFAULT_CONFIG.with_name("example.toml")
TOKEN = "tok-PLANTED-0123456789abcdef"


def problems_of(path: Path | None, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=env)
    return info.value.problems


class TestShippedFiles:
    def test_default_is_paper_with_simulator(self, clean_env):
        """With no --config the shipped default gives paper mode against the simulator on loopback."""
        s = load_settings(env=clean_env)
        assert s.mode is Mode.PAPER
        assert s.exchange.environment is Environment.SIMULATOR
        assert s.simulator.host == "127.0.0.1"
        assert (s.control.host, s.control.port) == ("127.0.0.1", 8787)
        assert s.ledger.url is None

    def test_example_fails_only_on_missing_key_file(self, clean_env):
        """The live example validates except for its placeholder private key file."""
        problems = problems_of(EXAMPLE, clean_env)
        assert len(problems) == 1
        assert problems[0].startswith("exchange.private_key_file:")
        assert "does not exist" in problems[0]

    def test_example_passes_with_a_key(self, clean_env, key_file):
        """The live example loads once a real 0600 key file is given through the environment."""
        env = clean_env | {"KALSHI_GUARD_EXCHANGE__PRIVATE_KEY_FILE": str(key_file)}
        s = load_settings(EXAMPLE, env=env)
        assert s.mode is Mode.LIVE
        assert s.exchange.environment is Environment.DEMO
        assert s.exchange.private_key_file == key_file


class TestEnvironmentLayer:
    def test_env_overrides_file_and_is_coerced(self, clean_env, write_config):
        """KALSHI_GUARD_<SECTION>__<KEY> overrides the file, and strings become Decimal/int/bool."""
        path = write_config('[limits]\nmax_daily_loss = "10"\n[simulator]\npersist = true\n')
        env = clean_env | {"KALSHI_GUARD_LIMITS__MAX_DAILY_LOSS": "12.5", "KALSHI_GUARD_LIMITS__MAX_OPEN_ORDERS": "7",
                           "KALSHI_GUARD_SIMULATOR__PERSIST": "false", "KALSHI_GUARD_MODE": "paper"}
        s = load_settings(path, env=env)
        assert s.limits.max_daily_loss == Decimal("12.5")
        assert s.limits.max_open_orders == 7
        assert s.simulator.persist is False

    def test_state_dir_from_env(self, clean_env, tmp_path):
        """KALSHI_GUARD_STATE_DIR sets the top-level state_dir."""
        s = load_settings(env=clean_env | {"KALSHI_GUARD_STATE_DIR": str(tmp_path / "st")})
        assert s.state_dir == tmp_path / "st"

    def test_bad_env_value_names_the_variable(self, clean_env):
        """A value out of range from the environment names the key path and the variable."""
        problems = problems_of(None, clean_env | {"KALSHI_GUARD_LIMITS__MAX_DAILY_LOSS": "-5"})
        assert problems == ["limits.max_daily_loss: '-5' — '-5' must be a non-negative amount of dollars "
                            "(from KALSHI_GUARD_LIMITS__MAX_DAILY_LOSS)"]

    def test_unknown_env_names_are_rejected(self, clean_env):
        """An unknown section and an unknown key in a known section are both reported."""
        env = clean_env | {"KALSHI_GUARD_LIMIT__MAX_DAILY_LOSS": "5", "KALSHI_GUARD_LIMITS__MAX_DAILY_LOS": "5"}
        problems = problems_of(None, env)
        assert len(problems) == 2
        assert problems[0].startswith("environment KALSHI_GUARD_LIMIT__MAX_DAILY_LOSS: unknown setting")
        assert problems[1].startswith("limits.max_daily_los: unknown key (allowed: max_daily_loss,")

    def test_empty_and_test_variables_are_ignored(self, clean_env):
        """Empty values and KALSHI_GUARD_TEST_* variables do not change or break the settings."""
        env = clean_env | {"KALSHI_GUARD_LIMITS__MAX_DAILY_LOSS": "", "KALSHI_GUARD_TEST_PG_URL": "x"}
        assert load_settings(env=env).limits.max_daily_loss == Decimal("50")

    def test_whole_section_from_env_is_refused(self, clean_env):
        """Setting a section as one variable is refused with the keys it accepts."""
        problems = problems_of(None, clean_env | {"KALSHI_GUARD_CONTROL": "x"})
        assert len(problems) == 1
        assert "a section cannot be set whole" in problems[0]


class TestCredentials:
    def make_creds(self, tmp_path: Path, **files: str) -> Path:
        creds = tmp_path / "creds"
        creds.mkdir()
        for name, text in files.items():
            (creds / name.replace("_", "-")).write_text(text)
        return creds

    def test_credentials_fill_secrets_and_override_env(self, clean_env, tmp_path):
        """Credential files fill the SecretStr fields (stripped) and win over the environment."""
        creds = self.make_creds(
            tmp_path, control_token=TOKEN + "\n", discord_webhook_url="https://discord.example/api/webhooks/1/abc\n",
            pagerduty_routing_key="pdkey-PLANTED-000000", ledger_url="postgresql+psycopg://u:pw-PLANTED@127.0.0.1/test",
        )
        env = clean_env | {"CREDENTIALS_DIRECTORY": str(creds), "KALSHI_GUARD_CONTROL__TOKEN": "from-env-0123456789"}
        s = load_settings(env=env)
        assert s.control.token.get_secret_value() == TOKEN
        assert s.alerts.discord_webhook_url.get_secret_value() == "https://discord.example/api/webhooks/1/abc"
        assert s.alerts.pagerduty_routing_key.get_secret_value() == "pdkey-PLANTED-000000"
        assert s.ledger.url.get_secret_value().endswith("@127.0.0.1/test")
        assert set(secret_values(s)) >= {TOKEN, "pdkey-PLANTED-000000"}

    def test_private_key_credential_is_a_path(self, clean_env, tmp_path, pem_bytes):
        """The kalshi-private-key credential sets exchange.private_key_file to the credential's path."""
        creds = self.make_creds(tmp_path)
        (creds / "kalshi-private-key").write_bytes(pem_bytes)
        (creds / "kalshi-private-key").chmod(0o400)
        s = load_settings(env=clean_env | {"CREDENTIALS_DIRECTORY": str(creds)})
        assert s.exchange.private_key_file == creds / "kalshi-private-key"

    def test_empty_and_unreadable_credentials(self, clean_env, tmp_path):
        """An empty credential and one that cannot be read each give one problem without contents."""
        creds = self.make_creds(tmp_path, control_token="  \n")
        (creds / "ledger-url").mkdir()  # reading a directory fails even as root
        problems = problems_of(None, clean_env | {"CREDENTIALS_DIRECTORY": str(creds)})
        assert problems == [
            "credential 'control-token' (control.token): the file is empty",
            "credential 'ledger-url' (ledger.url): cannot be read (Is a directory)",
        ]

    def test_no_credentials_directory_means_no_layer(self, clean_env, tmp_path):
        """Without $CREDENTIALS_DIRECTORY credential files are not looked for."""
        self.make_creds(tmp_path, control_token=TOKEN)
        assert load_settings(env=clean_env).control.token is None


class TestProblems:
    def test_every_problem_is_collected(self, clean_env, write_config):
        """Several bad values in one file give one line each, in one ConfigError."""
        path = write_config(
            'mode = "x"\n[limits]\nmax_open_orders = "many"\nmax_daily_loss = -1\n[control]\nport = 1e9\n')
        problems = problems_of(path, clean_env)
        assert [p.split(":")[0] for p in problems] == [
            "mode", "limits.max_daily_loss", "limits.max_open_orders", "control.port"]

    def test_secret_of_wrong_type_is_masked(self, clean_env, write_config):
        """A secret given with the wrong type is reported without its value."""
        path = write_config("[control]\ntoken = 98765432109876543210\n")
        problems = problems_of(path, clean_env)
        assert problems == ["control.token: '**********' — must be a string"]

    def test_short_token_and_bad_ledger_url_are_masked(self, clean_env):
        """A too-short token and a malformed ledger URL are refused without showing them."""
        env = clean_env | {"KALSHI_GUARD_CONTROL__TOKEN": "short-PLANTED", "KALSHI_GUARD_LEDGER__URL": "oops PLANTED"}
        problems = problems_of(None, env)
        assert len(problems) == 2
        assert not any("PLANTED" in p for p in problems)

    def test_relative_paths_follow_the_file(self, clean_env, tmp_path, pem_bytes, write_config):
        """Relative state_dir and private_key_file in a file are relative to that file's directory."""
        (tmp_path / "k.pem").write_bytes(pem_bytes)
        (tmp_path / "k.pem").chmod(0o600)
        path = write_config('state_dir = "state"\n[exchange]\nprivate_key_file = "k.pem"\n')
        s = load_settings(path, env=clean_env)
        assert s.state_dir == tmp_path / "state"
        assert s.exchange.private_key_file == tmp_path / "k.pem"

    def test_live_mode_cross_checks(self, clean_env, write_config):
        """Live mode needs a key id, a key file and a real exchange environment."""
        problems = problems_of(write_config('mode = "live"\n'), clean_env)
        assert [p.split(":")[0] for p in problems] == [
            "exchange.key_id", "exchange.private_key_file", "exchange.environment"]

    def test_plain_http_only_to_loopback(self, clean_env, write_config):
        """A plain-text exchange URL is refused unless it points at loopback."""
        ok = write_config('[exchange]\nbase_url = "http://127.0.0.1:8788/trade-api/v2"\n')
        assert not any(p.startswith("exchange.base_url") for p in problems_of(ok, clean_env))
        bad = write_config('[exchange]\nbase_url = "http://kalshi.example/trade-api/v2"\n')
        assert any(p.startswith("exchange.base_url: 'http://kalshi.example") for p in problems_of(bad, clean_env))

    def test_paper_mode_never_talks_to_a_real_exchange(self, clean_env, write_config):
        """Paper mode with a demo or production environment is refused (paper means a simulator)."""
        bad = write_config('mode = "paper"\n[exchange]\nenvironment = "production"\n')
        assert problems_of(bad, clean_env)[0].startswith("exchange.environment: 'production'")

    def test_paper_mode_with_an_external_simulator_needs_its_key(self, clean_env, write_config):
        """An external simulator URL in paper mode needs the key id and key file it printed."""
        bad = write_config('[exchange]\nbase_url = "http://127.0.0.1:8788/trade-api/v2"\n')
        assert any("exchange.key_id / exchange.private_key_file" in p for p in problems_of(bad, clean_env))

    def test_secret_paths_cover_every_secret(self):
        """The schema's secret fields are exactly the five known secrets."""
        assert frozenset({"control.token", "alerts.discord_webhook_url", "alerts.pagerduty_routing_key",
                          "alerts.webhook_url", "ledger.url"}) == SECRET_PATHS


class TestReload:
    def test_reload_returns_new_limits(self, clean_env, write_config):
        """validate_reload loads the file again with the same rules; reload_changes names what changed."""
        path = write_config('[limits]\nmax_daily_loss = "20"\n')
        old = load_settings(path, env=clean_env)
        path.write_text('[limits]\nmax_daily_loss = "30"\n[control]\nport = 9000\n')
        new = validate_reload(path, env=clean_env)
        assert new.limits.max_daily_loss == Decimal("30")
        assert reload_changes(old, new) == ["limits.max_daily_loss", "control.port"]

    def test_invalid_reload_raises(self, clean_env, write_config):
        """An invalid file on reload raises ConfigError (the caller keeps the old settings)."""
        path = write_config('[limits]\nmax_daily_loss = "nope"\n')
        with pytest.raises(ConfigError, match=r"limits\.max_daily_loss"):
            validate_reload(path, env=clean_env)


def test_reload_changes_walks_an_unset_optional_section():
    """golive.exchange unset on both sides (or one) is compared, not dereferenced (a reload used to raise)."""
    from pathlib import Path

    from kalshi_guard.config.loader import reload_changes
    from kalshi_guard.config.schema import ExchangeSettings, GoLiveSettings, Settings

    old = Settings()
    assert reload_changes(old, old.model_copy(update={"limits": old.limits.model_copy(
        update={"max_open_orders": 7})})) == ["limits.max_open_orders"]
    live = ExchangeSettings(environment="demo", key_id="k", private_key_file=Path("/k.pem"))
    changed = reload_changes(old, old.model_copy(update={"golive": GoLiveSettings(exchange=live)}))
    assert "golive.exchange.environment" in changed
