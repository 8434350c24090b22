"""control.host off loopback: refused without an explicit token (exit 78), warned about loudly with one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kalshi_guard.config.exposure import exposure_warning, is_loopback
from kalshi_guard.config.loader import load_settings
from kalshi_guard.core.errors import ConfigError

from .conftest import KG

TOKEN = "tok-EXPLICIT-0123456789abcdef"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    """Loopback literals and localhost are loopback."""
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com", "", "0"])
def test_off_loopback_hosts(host: str) -> None:
    """Wildcards, LAN addresses and host names (they may resolve anywhere) are off loopback."""
    assert not is_loopback(host)


class TestLoad:
    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5"])
    def test_off_loopback_without_an_explicit_token_is_a_config_error(self, clean_env, host: str) -> None:
        """No control.token anywhere (the daemon would generate one): refused, naming control.host."""
        with pytest.raises(ConfigError) as info:
            load_settings(None, env={**clean_env, "KALSHI_GUARD_CONTROL__HOST": host})
        assert any(p.startswith("control.host:") and "explicit control.token" in p for p in info.value.problems)

    def test_off_loopback_with_a_token_from_the_environment_loads_and_warns(self, clean_env) -> None:
        """An explicit token: the configuration loads, and the daemon's start-up warning names the exposure."""
        s = load_settings(None, env={**clean_env, "KALSHI_GUARD_CONTROL__HOST": "0.0.0.0",
                                     "KALSHI_GUARD_CONTROL__TOKEN": TOKEN})
        warning = exposure_warning(s.control.host, s.control.port)
        assert warning is not None
        assert "OFF LOOPBACK" in warning
        assert TOKEN not in warning

    def test_off_loopback_with_a_credential_token_loads(self, clean_env, tmp_path: Path) -> None:
        """The systemd credential control-token counts as explicit."""
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / "control-token").write_text(TOKEN + "\n")
        s = load_settings(None, env={**clean_env, "KALSHI_GUARD_CONTROL__HOST": "0.0.0.0",
                                     "CREDENTIALS_DIRECTORY": str(creds)})
        assert s.control.token is not None

    def test_loopback_needs_no_token_and_no_warning(self, clean_env) -> None:
        """The default: nothing to say."""
        s = load_settings(None, env=clean_env)
        assert exposure_warning(s.control.host, s.control.port) is None


def test_the_daemon_refuses_to_start_off_loopback_with_exit_78(clean_env, tmp_path: Path) -> None:
    """``kalshi-guard run`` with control.host = 0.0.0.0 and no token: exit 78 with one config error line,
    before anything binds or touches the state directory's ledger."""
    env = {**clean_env, "KALSHI_GUARD_CONTROL__HOST": "0.0.0.0", "KALSHI_GUARD_STATE_DIR": str(tmp_path / "st")}
    out = subprocess.run([KG, "run"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 78, out.stderr
    assert "config error: control.host: '0.0.0.0'" in out.stderr
    assert not (tmp_path / "st" / "ledger.sqlite").exists()
