"""The reconciler's rig on a real simulator and a real SQLite ledger (each test its own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kalshi_guard.simulator.testing import running_simulator
from tests.actors.reconcile_rig import Rig


@pytest.fixture
def sim() -> Iterator[Any]:
    with running_simulator() as s:
        yield s


@pytest.fixture
def rig_factory(sim: Any, tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(settings: Any = None, *, db: str = "ledger.sqlite", timeout: float = 2.0) -> Rig:
        r = Rig(sim, f"sqlite:///{tmp_path / db}", settings, timeout=timeout)
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()
