"""Ledger fixtures: a fresh ledger per test on SQLite (a temp file) and PostgreSQL (a throwaway schema)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from kalshi_guard.ledger import Ledger

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z


class FakeClock:
    """A settable clock (the one seam we fake): returns ``t`` until moved."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at ``T0``."""
    return FakeClock()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A URL for an empty ledger: a SQLite file in a not-yet-existing directory, or a fresh PG schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/sub/dir/ledger.sqlite"
        return
    base: str = request.getfixturevalue("postgres_url")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def open_ledger(ledger_url: str, clock: FakeClock) -> Iterator[Callable[[], Ledger]]:
    """Open (or reopen) the test's ledger; every ledger opened is closed afterwards."""
    opened: list[Ledger] = []

    def _open() -> Ledger:
        led = Ledger.open(ledger_url, clock=clock)
        opened.append(led)
        return led

    yield _open
    for led in opened:
        led.close()


@pytest.fixture
def ledger(open_ledger: Callable[[], Ledger]) -> Ledger:
    """A fresh, open ledger on the parametrised backend."""
    return open_ledger()
