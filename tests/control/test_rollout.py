"""``kalshi-guard stage``: show, start, and an advance the operator confirms only when the stage ran clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_guard.ledger import Ledger

EXE = str(Path(sys.executable).with_name("kalshi-guard"))
CONFIG = """
state_dir = "{state}"
[[golive.stages]]
name = "week 1"
max_order_count = "1"
advance_after_days = 7
[[golive.stages]]
name = "full"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state"))
    return path


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, "--config", str(config), "stage", *args], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(config.parent)})


def test_start_then_an_early_advance_is_refused_with_the_reason(config, tmp_path):
    assert "max_order_count 1" in run(config).stdout
    assert run(config, "start").returncode == 1  # --reason is required
    started = run(config, "start", "--reason", "first live day")
    assert started.returncode == 0, started.stderr
    early = run(config, "advance", "--reason", "eager")
    assert early.returncode == 1
    assert "refused — week 1 has" in early.stderr
    shown = run(config).stdout
    assert "▶ 1. week 1" in shown
    assert "not yet" in shown
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'state' / 'ledger.sqlite'}")
    try:
        (row,) = ledger.activity("ROLLOUT_STAGE")
        assert row.details is not None
        assert (row.details["stage"], row.details["reason"]) == (0, "first live day")
    finally:
        ledger.close()


def test_without_stages_the_command_says_so(tmp_path):
    plain = tmp_path / "p.toml"
    plain.write_text(f'state_dir = "{tmp_path / "s"}"\n')
    res = run(plain)
    assert res.returncode == 1
    assert "no rollout stages" in res.stderr
