"""Control token resolution (config, credential, state file), file safety, and the bearer check."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from kalshi_guard.config.schema import ControlSettings, Settings
from kalshi_guard.control.auth import check_bearer, read_token_for_cli, resolve_token, token_path
from kalshi_guard.core.errors import ConfigError

CONFIGURED = "configured-token-0123456789"


def settings(token: str | None = None) -> Settings:
    return Settings(control=ControlSettings(token=SecretStr(token) if token is not None else None))


class TestResolve:
    def test_configured_token_wins(self, tmp_path: Path) -> None:
        """A token from the settings is used and no file is written."""
        assert resolve_token(settings(CONFIGURED), tmp_path, env={}) == CONFIGURED
        assert not token_path(tmp_path).exists()

    def test_credential_directory(self, tmp_path: Path) -> None:
        """Without a configured token, $CREDENTIALS_DIRECTORY/control-token is used (trailing newline dropped)."""
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / "control-token").write_text(CONFIGURED + "\n")
        state = tmp_path / "state"
        assert resolve_token(settings(), state, env={"CREDENTIALS_DIRECTORY": str(creds)}) == CONFIGURED
        assert not token_path(state).exists()

    def test_generated_token_is_written_0600(self, tmp_path: Path) -> None:
        """Without any configured token one is generated and written with mode 0600."""
        token = resolve_token(settings(), tmp_path, env={})
        path = token_path(tmp_path)
        assert len(token) >= 40
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().strip() == token

    def test_generated_file_is_0600_even_with_a_permissive_umask(self, tmp_path: Path) -> None:
        """The file is 0600 from its creation whatever the umask says."""
        old = os.umask(0)
        try:
            resolve_token(settings(), tmp_path, env={})
        finally:
            os.umask(old)
        assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600

    def test_token_is_stable_across_restarts(self, tmp_path: Path) -> None:
        """A second start reads the same token instead of generating a new one."""
        first = resolve_token(settings(), tmp_path, env={})
        assert resolve_token(settings(), tmp_path, env={}) == first

    def test_concurrent_first_starts_agree(self, tmp_path: Path) -> None:
        """Racing first starts all end with the one token that is on disk."""
        results: list[str] = []
        barrier = threading.Barrier(8)

        def go() -> None:
            barrier.wait(10)
            results.append(resolve_token(settings(), tmp_path, env={}))

        threads = [threading.Thread(target=go) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        on_disk = token_path(tmp_path).read_text().strip()
        assert results == [on_disk] * 8
        assert [p.name for p in tmp_path.iterdir()] == ["control-token"]

    def test_state_dir_is_created(self, tmp_path: Path) -> None:
        """A missing state directory is created (0700) for the token file."""
        state = tmp_path / "a" / "b"
        resolve_token(settings(), state, env={})
        assert token_path(state).exists()

    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
    def test_file_readable_by_others_is_refused(self, tmp_path: Path, mode: int) -> None:
        """A token file accessible by group or others is a ConfigError that does not show the token."""
        path = token_path(tmp_path)
        path.write_text(CONFIGURED)
        path.chmod(mode)
        with pytest.raises(ConfigError, match="chmod 600") as info:
            resolve_token(settings(), tmp_path, env={})
        assert CONFIGURED not in str(info.value)

    def test_symlink_is_refused(self, tmp_path: Path) -> None:
        """A symlinked token file is refused."""
        target = tmp_path / "elsewhere"
        target.write_text(CONFIGURED)
        target.chmod(0o600)
        token_path(tmp_path).symlink_to(target)
        with pytest.raises(ConfigError, match="not a regular file"):
            resolve_token(settings(), tmp_path, env={})

    @pytest.mark.parametrize("bad", ["", "   ", "short", "has space inside-0123456789"])
    def test_bad_configured_tokens(self, tmp_path: Path, bad: str) -> None:
        """Empty, short or whitespace-containing configured tokens are refused."""
        with pytest.raises(ConfigError):
            resolve_token(settings(bad), tmp_path, env={})

    def test_empty_token_file_is_refused(self, tmp_path: Path) -> None:
        """An empty token file is a ConfigError rather than an open door."""
        path = token_path(tmp_path)
        path.write_text("\n")
        path.chmod(0o600)
        with pytest.raises(ConfigError, match="empty"):
            resolve_token(settings(), tmp_path, env={})


class TestCli:
    def test_cli_reads_the_daemon_token(self, tmp_path: Path) -> None:
        """The CLI reads the token the daemon generated."""
        token = resolve_token(settings(), tmp_path, env={})
        assert read_token_for_cli(settings(), tmp_path, env={}) == token

    def test_cli_never_creates_a_token(self, tmp_path: Path) -> None:
        """Without a file or configured token the CLI gets None and nothing is written."""
        assert read_token_for_cli(settings(), tmp_path, env={}) is None
        assert not token_path(tmp_path).exists()

    def test_cli_prefers_configured(self, tmp_path: Path) -> None:
        """A configured token is what the CLI sends."""
        assert read_token_for_cli(settings(CONFIGURED), tmp_path, env={}) == CONFIGURED

    def test_cli_refuses_unsafe_file(self, tmp_path: Path) -> None:
        """The CLI refuses a world-readable token file too."""
        path = token_path(tmp_path)
        path.write_text(CONFIGURED)
        path.chmod(0o644)
        with pytest.raises(ConfigError):
            read_token_for_cli(settings(), tmp_path, env={})


class TestCheckBearer:
    def test_accepts_exact_token(self) -> None:
        """'Bearer <token>' with the exact token passes."""
        assert check_bearer(f"Bearer {CONFIGURED}", CONFIGURED)

    @pytest.mark.parametrize(
        "header",
        [None, "", "Bearer", "Bearer ", f"Basic {CONFIGURED}", f"Bearer {CONFIGURED}0",
         f"Bearer {CONFIGURED[:-1]}", CONFIGURED, f"Bearer {CONFIGURED.upper()}", "Bearer é-non-ascii"],
    )
    def test_rejects_everything_else(self, header: str | None) -> None:
        """Missing headers, other schemes, prefixes, extensions and case changes fail."""
        assert not check_bearer(header, CONFIGURED)

    def test_empty_token_never_matches(self) -> None:
        """An empty expected token matches nothing, not even an empty presented one."""
        assert not check_bearer("Bearer ", "")
        assert not check_bearer("Bearer x", "")


class TestWriteFailure:
    def test_unwritable_state_dir_is_a_config_error(self, tmp_path: Path) -> None:
        """A state directory that cannot be created is a ConfigError, not a traceback."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(ConfigError, match="cannot write"):
            resolve_token(settings(), blocker / "state", env={})
