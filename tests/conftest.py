"""Shared fixtures: every test leaves no actor running, and PostgreSQL is found or skipped with a reason."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


def _load_standins() -> Any:
    """tests/standins.py (loopback Discord/PagerDuty/webhook stand-ins), loaded by path (importlib mode)."""
    spec = importlib.util.spec_from_file_location("kalshi_guard_test_standins", Path(__file__).with_name("standins.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


STANDINS = _load_standins()


@pytest.fixture
def standins() -> Iterator[Callable[..., Any]]:
    """A factory of started stand-ins (``standins("discord", scale=0.02)``), all stopped after the test."""
    made: list[Any] = []
    kinds = {"discord": STANDINS.DiscordStandIn, "pagerduty": STANDINS.PagerDutyStandIn,
             "webhook": STANDINS.WebhookStandIn}

    def make(kind: str, **kwargs: Any) -> Any:
        s = kinds[kind](**kwargs).start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
