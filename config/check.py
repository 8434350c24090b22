"""``kalshi-guard check-config``: validate every layer and print the effective config with secrets masked.

Exit 0 with the effective configuration on stdout (TOML, or JSON with ``--json``); exit 78 with one
``config error: …`` line per problem on stderr. Secrets are printed as ``"**********"``; the private
key file is shown as its path, never its contents. Nothing is created on disk.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from kalshi_guard.config.loader import DEFAULT_CONFIG, load_settings
from kalshi_guard.config.paths import resolve_log_file, resolve_state_dir
from kalshi_guard.config.schema import Settings
from kalshi_guard.config.shares import Share, describe
from kalshi_guard.core.errors import ConfigError

EX_OK = 0
EX_CONFIG = 78


def masked_config(settings: Settings) -> dict[str, Any]:
    """The settings as plain JSON-able data, every ``SecretStr`` replaced by ``"**********"``.

    Safe for CLI output and API responses (pydantic's JSON mode masks secrets; Decimals become strings).
    """
    return settings.model_dump(mode="json")


def _toml_value(value: Any) -> str:
    """A JSON-mode value as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table (alerts.routes)
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    return json.dumps(str(value), ensure_ascii=False)


def _toml_lines(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """TOML for a nested settings dict (sub-tables as ``[section.sub]``); unset values appear as comments."""
    lines: list[str] = []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for key, value in data.items():
        if key in tables:
            continue
        lines.append(f"# {key} = (unset)" if value is None else f"{key} = {_toml_value(value)}")
    for name, table in tables.items():
        lines += ["", f"[{prefix}{name}]"]
        lines += _toml_lines(table, f"{prefix}{name}.")
    return lines


def day_start_value(sqlite_file: Path, day: date) -> Decimal | None:
    """Today's recorded day-start value from an existing SQLite ledger, read-only (nothing is created); None
    when there is no ledger, no anchor for ``day``, or it cannot be read."""
    if not sqlite_file.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{sqlite_file}?mode=ro", uri=True, timeout=1)) as conn:
            row = conn.execute("SELECT balance FROM daily_anchor WHERE day = ?", (day.isoformat(),)).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else Decimal(str(row[0]))


def _resolved_comments(settings: Settings, source: Path, env: Mapping[str, str]) -> list[str]:
    """Comment lines naming the file read, the directories the daemon would use, and the dollar figure of
    each limit given as a share (against today's anchor in an existing SQLite ledger, when there is one)."""
    state = resolve_state_dir(settings, env)
    ledger = "ledger.url (masked)" if settings.ledger.url is not None else f"sqlite {state / 'ledger.sqlite'}"
    lines = [
        f"# config file: {source}",
        f"# state directory: {state}",
        f"# JSON log: {resolve_log_file(settings, env)}",
        f"# ledger: {ledger}",
    ]
    anchor = None if settings.ledger.url is not None else day_start_value(state / "ledger.sqlite",
                                                                           datetime.now(UTC).date())
    for key in ("max_daily_loss", "max_order_loss"):
        limit = getattr(settings.limits, key)
        if isinstance(limit, Share):
            lines.append(f"# limits.{key}: {describe(limit, anchor)}")
    return [*lines, ""]


def check_config(
    path: Path | None, *, as_json: bool = False, env: Mapping[str, str] = os.environ,
    out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """Run the check: print the effective config (exit 0) or one line per problem (exit 78)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        settings = load_settings(path, env=env)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"config error: {line}", file=err)
        return EX_CONFIG
    data = masked_config(settings)
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False), file=out)
    else:
        source = path if path is not None else DEFAULT_CONFIG
        print("\n".join(_resolved_comments(settings, source, env) + _toml_lines(data)), file=out)
    return EX_OK


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``check-config`` (see the module docstring)."""
    p = subparsers.add_parser(
        name, parents=[common], help="validate the configuration and print it with secrets masked",
        description=__doc__,
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    path = Path(args.config) if getattr(args, "config", None) else None
    return check_config(path, as_json=args.json)
