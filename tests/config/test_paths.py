"""Tests for config.paths: state and log directory resolution and creation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kalshi_guard.config.paths import logs_dir, resolve_log_file, resolve_state_dir, state_dir
from kalshi_guard.config.schema import Settings
from kalshi_guard.core.errors import ConfigError


class TestResolution:
    def test_settings_win(self, tmp_path):
        """state_dir in the settings wins over $STATE_DIRECTORY."""
        s = Settings(state_dir=tmp_path / "mine")
        assert resolve_state_dir(s, {"STATE_DIRECTORY": "/var/lib/x"}) == tmp_path / "mine"

    def test_systemd_first_entry(self):
        """$STATE_DIRECTORY is used, its first entry when colon-separated."""
        env = {"STATE_DIRECTORY": "/var/lib/a:/var/lib/b", "XDG_STATE_HOME": "/x"}
        assert resolve_state_dir(Settings(), env) == Path("/var/lib/a")

    def test_xdg_then_home(self, tmp_path):
        """Without systemd, $XDG_STATE_HOME/kalshi-guard, else ~/.local/state/kalshi-guard."""
        assert resolve_state_dir(Settings(), {"XDG_STATE_HOME": "/xdg"}) == Path("/xdg/kalshi-guard")
        home = {"HOME": str(tmp_path)}
        assert resolve_state_dir(Settings(), home) == tmp_path / ".local/state/kalshi-guard"

    def test_log_file_under_state_or_logs_directory(self, tmp_path):
        """The JSON log is <state>/logs/kalshi-guard.jsonl unless $LOGS_DIRECTORY is set."""
        s = Settings(state_dir=tmp_path)
        assert resolve_log_file(s, {}) == tmp_path / "logs" / "kalshi-guard.jsonl"
        assert resolve_log_file(s, {"LOGS_DIRECTORY": "/var/log/kg"}) == Path("/var/log/kg/kalshi-guard.jsonl")


class TestCreation:
    def test_created_with_mode_0700(self, tmp_path):
        """A missing state directory (and its logs dir) is created with mode 0700."""
        s = Settings(state_dir=tmp_path / "a" / "state")
        path = state_dir(s, {})
        assert path.is_dir()
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        logs = logs_dir(s, {})
        assert logs == path / "logs"
        assert stat.S_IMODE(logs.stat().st_mode) == 0o700

    def test_existing_directory_is_left_alone(self, tmp_path):
        """An existing directory keeps its mode."""
        tmp_path.joinpath("st").mkdir(mode=0o750)
        tmp_path.joinpath("st").chmod(0o750)
        path = state_dir(Settings(state_dir=tmp_path / "st"), {})
        assert stat.S_IMODE(path.stat().st_mode) == 0o750

    def test_uncreatable_is_a_config_error(self, tmp_path):
        """A state directory below a regular file is one ConfigError line naming state_dir."""
        (tmp_path / "file").write_text("x")
        with pytest.raises(ConfigError) as info:
            state_dir(Settings(state_dir=tmp_path / "file" / "st"), {})
        assert len(info.value.problems) == 1
        assert info.value.problems[0].startswith("state_dir: ")
