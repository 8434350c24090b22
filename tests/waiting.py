"""The one way tests wait for state that has no event to wait on (another process, the ledger, the exchange)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition",
               every: float = 0.02) -> Any:
    """Re-check ``predicate`` until it returns something truthy (returned) or ``timeout`` passes (the test
    fails naming ``what``). Each pause waits on an Event, never a bare sleep; no figure depends on it."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        pause.wait(every)
