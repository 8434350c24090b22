"""Fixtures for the simulator tests: one running simulator per test and a signed client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kalshi_guard.simulator.server import SimulatorServer
from kalshi_guard.simulator.testing import SignedClient, running_simulator


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A fresh simulator on a free loopback port."""
    with running_simulator(seed=7) as s:
        yield s


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[SignedClient]:
    """A signed client for ``sim``."""
    with SignedClient(sim) as c:
        yield c
