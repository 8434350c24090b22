"""The ``kalshi-guard`` console script: one parser, a subcommand per module.

Each subcommand module exposes ``add_parser(subparsers, name)``, which registers its parser and sets
``func`` (``Callable[[argparse.Namespace], int]``). ``--config PATH`` is a global option of every
subcommand. Exit codes: 0 success, 1 failure, 2 usage, 78 configuration error (EX_CONFIG; systemd does
not restart on it), 70 internal error. A traceback is never the user's answer: unexpected errors print
one line (and go to the log).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kalshi_guard.core.exits import EX_CONFIG, EX_FAIL, EX_OK, EX_SOFTWARE, EX_USAGE

__all__ = ["EX_CONFIG", "EX_FAIL", "EX_OK", "EX_SOFTWARE", "EX_USAGE", "build_parser", "main"]

# subcommand -> module that implements it (add_parser(subparsers, name))
COMMANDS: dict[str, str] = {
    "run": "kalshi_guard.control.cmd_run",
    "sim": "kalshi_guard.simulator.cli",
    "keygen": "kalshi_guard.exchange.keygen",
    "check-config": "kalshi_guard.config.check",
    "tail": "kalshi_guard.control.tail",
    "status": "kalshi_guard.control.cmd_ops",
    "stop": "kalshi_guard.control.cmd_ops",
    "reset": "kalshi_guard.control.cmd_ops",
    "order": "kalshi_guard.control.cmd_order",
    "reconcile": "kalshi_guard.control.cmd_reconcile",
    "drill": "kalshi_guard.control.drill",
    "markets": "kalshi_guard.control.cmd_markets",
    "trades": "kalshi_guard.control.journal",
    "report": "kalshi_guard.control.journal",
    "backup": "kalshi_guard.control.backups",
    "restore": "kalshi_guard.control.backups",
    "stage": "kalshi_guard.control.rollout",
    "preflight": "kalshi_guard.control.preflight",
    "go-live": "kalshi_guard.control.mode",
    "go-paper": "kalshi_guard.control.mode",
    "activity": "kalshi_guard.control.activity",
    "test-alert": "kalshi_guard.control.test_alert",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the full parser; a subcommand whose module is missing is listed as unavailable."""
    # --config is accepted before and after the subcommand. The subcommands' copy defaults to SUPPRESS
    # so that it never overwrites a value given before the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file (default: config/default.toml)"
    )
    parser = argparse.ArgumentParser(prog="kalshi-guard", description="Live-trading safety daemon for Kalshi.")
    parser.add_argument("--config", metavar="PATH", default=None, help="TOML config file (default: built-in paper)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, modname in COMMANDS.items():
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                raise
            p = sub.add_parser(name, help="(not available in this build)", parents=[common])
            p.set_defaults(func=_unavailable(name))
            continue
        module.add_parser(sub, name, common)
    return parser


def _unavailable(name: str):  # noqa: ANN202
    def run(_args: argparse.Namespace) -> int:
        print(f"kalshi-guard: '{name}' is not available in this build", file=sys.stderr)
        return EX_USAGE

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Returns the process exit code (also used by ``sys.exit``).

    For ``run`` the signal handlers go in first, before the parser imports every subcommand: from then on
    a SIGUSR1 is remembered (and closes the gate as soon as it exists) instead of killing the process.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    if "run" in words:
        from kalshi_guard.control import cmd_run
        from kalshi_guard.control.signals import SignalRouter
        from kalshi_guard.core.memory import tune_allocator

        tune_allocator()  # before any thread starts: its arena limit then holds for all of them
        cmd_run.EARLY_ROUTER = SignalRouter()
        cmd_run.EARLY_ROUTER.install()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args))
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # last resort: one line, never a traceback
        from kalshi_guard.core.errors import ConfigError

        if isinstance(exc, ConfigError):
            for line in exc.problems:
                print(f"config error: {line}", file=sys.stderr)
            code = EX_CONFIG
        else:
            print(f"kalshi-guard: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = EX_SOFTWARE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
