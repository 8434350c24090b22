"""Fixtures for the config tests: an isolated environment, config files and RSA key files."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kalshi_guard.exchange.keys import generate_private_key, private_pem

KG = str(Path(sys.executable).with_name("kalshi-guard"))  # the console script of this venv


@pytest.fixture(scope="session")
def pem_bytes() -> bytes:
    """One RSA private key as PKCS#8 PEM (generated once per session)."""
    return private_pem(generate_private_key())


@pytest.fixture
def key_file(tmp_path: Path, pem_bytes: bytes) -> Path:
    """A usable private key file with mode 0600."""
    path = tmp_path / "kalshi.pem"
    path.write_bytes(pem_bytes)
    path.chmod(0o600)
    return path


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """The process environment without any kalshi-guard or systemd variables, HOME in tmp_path."""
    drop = ("KALSHI_GUARD_", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "LOGS_DIRECTORY", "XDG_STATE_HOME",
            "JOURNAL_STREAM")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write TOML text to a fresh file in tmp_path and return its path."""
    counter = iter(range(1000))

    def write(text: str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"config-{next(counter)}.toml")
        path.write_text(text, encoding="utf-8")
        return path

    return write
