"""Shared fixtures: every test leaves no actor running, and PostgreSQL is found or skipped with a reason."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pykka
import pytest

POSTGRES_URL = os.environ.get(
    "KALSHI_GUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    """Stop every pykka actor a test left behind (pykka's own test-suite idiom)."""
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=10)


def _postgres_reason() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]')"
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return None
    except OSError as exc:
        return f"no PostgreSQL answers on 127.0.0.1:5432 ({exc})"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A SQLAlchemy URL for the test PostgreSQL database; skips the test when none answers."""
    reason = _postgres_reason()
    if reason is not None:
        pytest.skip(reason)
    return POSTGRES_URL
