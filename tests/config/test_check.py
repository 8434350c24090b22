"""Tests for `kalshi-guard check-config`, run through the real console script."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

KG = str(Path(sys.executable).with_name("kalshi-guard"))  # the console script of this venv
PEM_TEXT = "-----BEGIN PRIVATE KEY-----\nnot really a key\n-----END PRIVATE KEY-----\n"

# (id, TOML text, key paths expected in order, one line each). "{key}" is replaced by a key file path.
MALFORMED = [
    ("malformed-toml", 'mode = "paper\n', ["line 1: malformed TOML"]),
    ("wrong-type", '[limits]\nmax_open_orders = "many"\n', ["limits.max_open_orders"]),
    ("unknown-key", "[limits]\nfoo = 1\n", ["limits.foo"]),
    ("unknown-section", "[bogus]\nx = 1\n", ["bogus"]),
    ("negative-limit", '[limits]\nmax_daily_loss = "-5"\n', ["limits.max_daily_loss"]),
    ("port-out-of-range", "[control]\nport = 70000\n", ["control.port"]),
    ("bad-enum", 'mode = "yolo"\n', ["mode"]),
    ("section-not-table", "limits = 5\n", ["limits"]),
    ("bad-log-level", '[logging]\nlevel = "LOUD"\n', ["logging.level"]),
    ("bad-rotation", '[logging]\nrotation = "whenever"\n', ["logging.rotation"]),
    ("missing-key-file", '[exchange]\nprivate_key_file = "/nonexistent/k.pem"\n', ["exchange.private_key_file"]),
    ("world-readable-key", '[exchange]\nprivate_key_file = "{open_key}"\n', ["exchange.private_key_file"]),
    ("not-a-pem", '[exchange]\nprivate_key_file = "{junk_key}"\n', ["exchange.private_key_file"]),
    ("live-without-key", 'mode = "live"\n[exchange]\nenvironment = "demo"\n',
     ["exchange.key_id", "exchange.private_key_file"]),
    ("live-on-simulator", 'mode = "live"\n[exchange]\nkey_id = "k"\nprivate_key_file = "{good_key}"\n',
     ["exchange.environment"]),
    ("inconsistent-limits", '[limits]\nmax_market_exposure = "300"\n', ["limits.max_market_exposure"]),
    ("too-many-decimals", '[limits]\nmax_daily_loss = "1.1234567"\n', ["limits.max_daily_loss"]),
    ("coalesce-max-out-of-range", "[orders]\ncoalesce_max = 0\n", ["orders.coalesce_max"]),
    ("coalesce-max-not-an-int", '[orders]\ncoalesce_max = "lots"\n', ["orders.coalesce_max"]),
    ("several-at-once", '[limits]\nmax_open_orders = 0\nprice_collar = 2\n[orders]\nfill_threshold = 0\n',
     ["limits.max_open_orders", "limits.price_collar", "orders.fill_threshold"]),
]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KG, *args], env=env, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def keys(tmp_path: Path, pem_bytes: bytes) -> dict[str, str]:
    """Key files: a good 0600 one, a world-readable one and a 0600 one that is not PEM."""
    out = {}
    for name, data, mode in (("good_key", pem_bytes, 0o600), ("open_key", pem_bytes, 0o644),
                             ("junk_key", PEM_TEXT.encode(), 0o600)):
        path = tmp_path / f"{name}.pem"
        path.write_bytes(data)
        path.chmod(mode)
        out[name] = str(path)
    return out


class TestMalformedConfigs:
    @pytest.mark.parametrize(("text", "expected"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
    def test_one_line_per_problem_and_exit_78(self, text, expected, keys, clean_env, write_config):
        """Each malformed config exits 78 with exactly one `config error:` line per problem and no traceback."""
        path = write_config(text.format(**keys))
        result = run(["check-config", "--config", str(path)], clean_env)
        assert result.returncode == 78, result.stderr
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert all(line.startswith("config error: ") for line in lines), lines
        assert len(lines) == len(expected), lines
        for line, key in zip(lines, expected, strict=True):
            assert key in line, (key, line)
        assert "Traceback" not in result.stderr

    def test_missing_config_file(self, clean_env, tmp_path):
        """A --config path that does not exist is one line naming it, exit 78."""
        result = run(["check-config", "--config", str(tmp_path / "nope.toml")], clean_env)
        assert result.returncode == 78
        assert result.stderr.splitlines() == [
            f"config error: --config: {str(tmp_path / 'nope.toml')!r} does not exist (give an existing TOML "
            "file, or omit --config for the built-in paper-mode default)"]

    def test_bad_environment_value(self, clean_env):
        """A bad value from the environment exits 78 naming the variable."""
        result = run(["check-config"], clean_env | {"KALSHI_GUARD_SUPERVISOR__MAX_RESTARTS": "0"})
        assert result.returncode == 78
        assert result.stderr.splitlines() == [
            "config error: supervisor.max_restarts: '0' — must be ≥ 1 (from KALSHI_GUARD_SUPERVISOR__MAX_RESTARTS)"]

    def test_global_config_option_before_subcommand(self, clean_env, write_config):
        """`kalshi-guard --config BAD check-config` reads BAD like `check-config --config BAD` does."""
        path = write_config("[limits]\nfoo = 1\n")
        result = run(["--config", str(path), "check-config"], clean_env)
        assert result.returncode == 78


class TestEffectiveConfig:
    SECRETS = {
        "control-token": "tok-PLANTED-0123456789abcdef",
        "discord-webhook-url": "https://discord.example/api/webhooks/42/hookPLANTEDsecretsecretsecret",
        "pagerduty-routing-key": "pdPLANTEDroutingkey000000000000",
        "alert-webhook-url": "https://hooks.example/PLANTEDgenericwebhooksecret",
        "ledger-url": "postgresql+psycopg://guard:pwPLANTEDpw@127.0.0.1:5432/test",
    }

    @pytest.fixture
    def creds_env(self, tmp_path, clean_env, pem_bytes) -> dict[str, str]:
        creds = tmp_path / "creds"
        creds.mkdir()
        for name, value in self.SECRETS.items():
            (creds / name).write_text(value + "\n")
        (creds / "kalshi-private-key").write_bytes(pem_bytes)
        (creds / "kalshi-private-key").chmod(0o400)
        return clean_env | {"CREDENTIALS_DIRECTORY": str(creds)}

    def test_toml_output_masks_every_secret(self, creds_env, tmp_path):
        """The TOML output shows each secret as ********** and the key file as its path, exit 0."""
        result = run(["check-config"], creds_env)
        assert result.returncode == 0, result.stderr
        assert "PLANTED" not in result.stdout + result.stderr
        assert "PRIVATE KEY" not in result.stdout
        data = tomllib.loads(result.stdout)
        assert data["control"]["token"] == "**********"
        assert data["ledger"]["url"] == "**********"
        assert data["alerts"]["discord_webhook_url"] == "**********"
        assert data["alerts"]["pagerduty_routing_key"] == "**********"
        assert data["alerts"]["webhook_url"] == "**********"
        assert data["exchange"]["private_key_file"] == str(tmp_path / "creds" / "kalshi-private-key")

    def test_json_output_masks_every_secret(self, creds_env):
        """--json prints the same effective config as JSON with the secrets masked."""
        result = run(["check-config", "--json"], creds_env)
        assert result.returncode == 0, result.stderr
        assert "PLANTED" not in result.stdout + result.stderr
        data = json.loads(result.stdout)
        assert data["control"]["token"] == "**********"
        assert data["limits"]["max_daily_loss"] == "50"

    def test_output_round_trips(self, clean_env, write_config):
        """The printed TOML of a secret-free config loads back to the same settings."""
        first = run(["check-config"], clean_env)
        path = write_config(first.stdout)
        second = run(["check-config", "--config", str(path)], clean_env)
        assert second.returncode == 0, second.stderr
        strip = [line for line in second.stdout.splitlines() if not line.startswith("# config file")]
        assert strip == [line for line in first.stdout.splitlines() if not line.startswith("# config file")]
