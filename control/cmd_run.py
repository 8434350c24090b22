"""``kalshi-guard run``: the daemon. Signal handlers are installed before anything else happens."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EARLY_ROUTER: Any = None  # installed by control.cli before anything else is imported (for `run`)


def add_parser(sub: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``run``."""
    p = sub.add_parser(name, parents=[common], help="run the daemon (paper mode by default)")
    p.add_argument(
        "--bot", metavar="MODULE:FUNCTION",
        help="run a bot in this process once the daemon is READY: FUNCTION(trading, stop) gets the "
             "TradingFacade and a threading.Event set at shutdown",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Install signal handlers, load the config (exit 78 when bad), run the daemon, return its exit code."""
    from kalshi_guard.control.signals import SignalRouter

    router = EARLY_ROUTER
    if router is None:
        router = SignalRouter()
        router.install()  # first: a SIGUSR1 from now on is never fatal
    from kalshi_guard.control.sdnotify import Notifier

    Notifier().status("starting: signal handlers armed")
    try:
        from kalshi_guard.config.loader import load_settings
        from kalshi_guard.control.daemon import Daemon
        from kalshi_guard.core.errors import ConfigError
        from kalshi_guard.core.exits import EX_CONFIG

        path = Path(args.config) if args.config else None
        try:
            settings = load_settings(path)
        except ConfigError as exc:
            import sys

            for line in exc.problems:
                print(f"config error: {line}", file=sys.stderr)
            return EX_CONFIG
        bot = _load_bot(args.bot) if getattr(args, "bot", None) else None
        code = Daemon(settings, path, router, bot=bot).run()
    finally:
        router.uninstall()
        router.close()
    from kalshi_guard.control.daemon import EXIT_REEXEC

    if code == EXIT_REEXEC:  # a mode switch: start again, same pid, on the exchange the ledger now names
        _reexec()
    return code


def _reexec() -> None:
    """Replace this process with a fresh ``kalshi-guard run`` (same arguments, same pid for systemd)."""
    import os
    import sys

    from kalshi_guard.control.sdnotify import Notifier

    Notifier().status("restarting for a mode switch")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, sys.argv[0], *sys.argv[1:]])  # noqa: S606 - ourselves, same args


def _load_bot(spec: str) -> Any:
    """Import ``module:function``. Raises ConfigError (exit 78) when it cannot be found."""
    import importlib

    from kalshi_guard.core.errors import ConfigError

    module_name, _, func_name = spec.partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name or "run")
    except (ImportError, AttributeError) as exc:
        raise ConfigError([f"--bot: {spec!r} cannot be loaded ({exc})"]) from None
    if not callable(func):
        raise ConfigError([f"--bot: {spec!r} is not callable"])
    return func
