"""Fixtures for the simulator tests: one running simulator per test and a signed client for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


def _load_kalshi_spec() -> Any:
    """``kalshi_spec.py`` beside this file (tests are not a package, so it is loaded by path)."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "kalshi_guard_tests_kalshi_spec"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("kalshi_spec.py"))
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def kalshi_spec() -> Any:
    """Validators against Kalshi's published specs with today's models laid over them (``kalshi_spec.py``)."""
    return _load_kalshi_spec()
