"""The short, seeded form of bench/chaos.py: kill -9 of the daemon (once right after an emergency stop) and of
the simulator under faults, and after every restart the ledger equals the exchange (orders, fills,
positions, no duplicate client_order_id, nothing UNKNOWN, no alert lost)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_short_chaos_leaves_the_ledger_equal_to_the_exchange(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("chaos", None)
    import chaos  # bench/chaos.py

    counts, problems = chaos.run(seed=11, kills=3, sim_kills=1, workdir=tmp_path)
    assert problems == []
    assert counts["daemon kill -9"] == 3
    assert counts["simulator kill -9"] == 1
    assert counts["audits"] == 4  # the first start and every restart
    assert counts["orders on the exchange"] > 0  # the bot really traded between the kills
