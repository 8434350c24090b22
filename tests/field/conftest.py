"""The field tests run the real daemon (``tests/e2e``'s Daemon and StandaloneSim) and, where a fault must be
timed to one request, the in-process pipeline of the real actors (``tests/pipeline``)."""

from __future__ import annotations

from tests.e2e.conftest import daemon_factory, standalone_sim
from tests.pipeline.conftest import pipeline_factory

__all__ = ["daemon_factory", "pipeline_factory", "standalone_sim"]
