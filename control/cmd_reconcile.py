"""``kalshi-guard reconcile [--json] [--last]``: run a reconciliation pass in the running daemon (control API).

Prints one line per discrepancy (kind, ticker, ledger vs exchange, action, evidence) or the raw JSON
report. Exit codes: 0 clean, 1 unreachable / refused / the exchange could not be read, 2 the pass found
discrepancies that booking did not resolve, 78 configuration error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

import httpx

from kalshi_guard.control.cmd_ops import EX_FAIL, EX_OK, _client, _err, _no_token, _refusal, resolve_target

EX_DISCREPANCIES = 2


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``reconcile``."""
    help_text = "reconcile the ledger with the exchange now and print the report"
    p = subparsers.add_parser(name, parents=[common], help=help_text, description=help_text)
    p.add_argument("--json", action="store_true", help="print the raw JSON report")
    p.add_argument("--last", action="store_true", help="show the last pass instead of running one")
    p.set_defaults(func=run)


def format_report(report: Mapping[str, Any]) -> str:
    """The report for people."""
    lines = [f"reconciliation {'ok' if report.get('ok') else 'FAILED'} at {report.get('started_at')}: "
             f"{report.get('summary') or report.get('error') or ''} ({report.get('duration_ms')} ms, "
             f"{report.get('pages')} pages)"]
    for d in report.get("discrepancies") or []:
        mark = "  " if d.get("resolved") else "! "
        lines.append(f"{mark}{d.get('kind'):15} {d.get('ticker'):28} ledger {d.get('ledger')} / exchange "
                     f"{d.get('exchange')} -> {d.get('action')}: {d.get('evidence')}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run (or show) a pass; see the module doc for exit codes."""
    target = resolve_target(args)
    if target.token is None:
        _no_token(target)
        return EX_FAIL
    try:
        with _client(target, timeout=180.0) as client:
            response = client.get("/api/reconcile/last") if args.last else client.post("/api/reconcile")
    except httpx.HTTPError as exc:
        _err(f"the daemon does not answer at {target.base_url} ({type(exc).__name__})")
        return EX_FAIL
    if response.status_code != 200:
        _err(f"reconcile refused: {_refusal(response)}")
        return EX_FAIL
    report = response.json()
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if not report.get("ok"):
        return EX_FAIL
    standing = [d for d in report.get("discrepancies") or [] if not d.get("resolved")]
    return EX_DISCREPANCIES if standing else EX_OK
