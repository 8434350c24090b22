"""``kalshi-guard stage``: the staged live rollout (``golive.stages`` in the config).

- ``stage`` / ``stage show`` — every stage with its caps, the current one marked, and whether it may advance.
- ``stage start --reason TEXT`` — record that the first stage begins (the live switch does this too).
- ``stage advance --reason TEXT`` — the operator's confirmation: move to the next stage, allowed only after
  the current one ran ``advance_after_days`` without a kill-switch trip or a reconciliation discrepancy.

Each change is one audited ``ROLLOUT_STAGE`` activity row; a running daemon applies it within seconds. Exit 0;
1 when the advance is not allowed (why on stderr) or the ledger cannot be used; 78 for a bad config.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from kalshi_guard.config.schema import RolloutStage, Settings
from kalshi_guard.core.errors import LedgerError
from kalshi_guard.core.exits import EX_FAIL, EX_OK
from kalshi_guard.ledger.rollout import STAGE, current_stage, may_advance


def record_stage(ledger: Any, stages: tuple[RolloutStage, ...], index: int, reason: str, source: str) -> None:
    """One audited row: stage ``index`` is current from now."""
    ledger.log_activity(STAGE, "info", f"rollout stage {stages[index].name!r} begins: {reason}",
                        {"stage": index, "name": stages[index].name, "source": source, "reason": reason})


def stage_summary(ledger: Any, settings: Settings, now: float) -> dict[str, Any] | None:
    """The rollout as ``status`` and the dashboard show it (None when no stages are configured)."""
    stages = settings.golive.stages
    if not stages:
        return None
    state = current_stage(ledger, len(stages))
    verdict = may_advance(ledger, stages, now)
    return {"stage": state.index, "name": stages[state.index].name, "since": state.since, "of": len(stages),
            "caps": stages[state.index].model_dump(mode="json", exclude={"name", "advance_after_days"},
                                                   exclude_none=True),
            "may_advance": verdict.allowed, "advance": verdict.reason}


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``stage``."""
    p = subparsers.add_parser(name, parents=[common], help="the staged live rollout: show, start, advance",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", choices=("show", "start", "advance"), default="show")
    p.add_argument("--reason", help="why (required for start and advance; audited)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kalshi_guard.config.loader import load_settings
    from kalshi_guard.config.paths import ledger_url
    from kalshi_guard.ledger.store import Ledger

    settings = load_settings(Path(args.config) if getattr(args, "config", None) else None)
    stages = settings.golive.stages
    if not stages:
        print("kalshi-guard stage: no rollout stages are configured ([[golive.stages]] in the config file)",
              file=sys.stderr)
        return EX_FAIL
    if args.action != "show" and not (args.reason or "").strip():
        print(f"kalshi-guard stage {args.action}: --reason is required (it is audited)", file=sys.stderr)
        return EX_FAIL
    try:
        ledger = Ledger.open(ledger_url(settings))
        try:
            return _act(args, ledger, stages)
        finally:
            ledger.close()
    except LedgerError as exc:
        print(f"kalshi-guard stage: the ledger cannot be used ({exc})", file=sys.stderr)
        return EX_FAIL


def _act(args: argparse.Namespace, ledger: Any, stages: tuple[RolloutStage, ...]) -> int:
    now = time.time()
    state = current_stage(ledger, len(stages))
    if args.action == "start":
        if state.since is not None:
            print(f"kalshi-guard stage start: the rollout already began ({stages[state.index].name})", file=sys.stderr)
            return EX_FAIL
        record_stage(ledger, stages, 0, args.reason.strip(), "cli")
        print(f"rollout stage {stages[0].name!r} begins")
        return EX_OK
    if args.action == "advance":
        verdict = may_advance(ledger, stages, now)
        if not verdict.allowed:
            print(f"kalshi-guard stage advance: refused — {verdict.reason}", file=sys.stderr)
            return EX_FAIL
        record_stage(ledger, stages, state.index + 1, args.reason.strip(), "cli")
        print(f"rollout stage {stages[state.index + 1].name!r} begins ({verdict.reason})")
        return EX_OK
    for i, stage in enumerate(stages):
        caps = stage.model_dump(mode="json", exclude={"name", "advance_after_days"}, exclude_none=True)
        shown = ", ".join(f"{k} {v}" for k, v in caps.items()) or "no caps beyond [limits]"
        mark = "▶" if i == state.index and state.since is not None else " "
        print(f"{mark} {i + 1}. {stage.name:<16} {shown}; advance after {stage.advance_after_days:g} days")
    verdict = may_advance(ledger, stages, now)
    print(f"advance: {'allowed' if verdict.allowed else 'not yet'} — {verdict.reason}")
    return EX_OK
