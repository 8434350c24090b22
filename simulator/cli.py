"""The ``kalshi-guard sim`` subcommand: run the simulator standalone until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

DEFAULT_KEY_DIR = Path.home() / ".local" / "share" / "kalshi-guard" / "sim-keys"


def add_parser(subparsers: Any, name: str, common: argparse.ArgumentParser) -> None:
    """Register ``sim`` with its options."""
    p = subparsers.add_parser(name, parents=[common], help="run the Kalshi-compatible simulator on loopback")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765,
                   help="port (0 = any free port; default 8765, so it can run beside a paper daemon, whose "
                        "embedded simulator listens on simulator.port, 8788)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed for liquidity and faults")
    p.add_argument("--state-file", type=Path, default=None, help="journal file: the account survives restarts")
    p.add_argument("--key-dir", type=Path, default=DEFAULT_KEY_DIR, help="where the client key pair lives")
    p.add_argument("--tier", default="unlimited", help="rate-limit tier (basic, advanced, …, unlimited)")
    p.add_argument("--liquidity-interval", type=float, default=1.0,
                   help="seconds between synthetic-liquidity moves (0 = static book)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start, print the URLs, key id and key path and the ``/_sim`` admin token (and its file), serve until a
    stop signal. Returns the exit code."""
    from kalshi_guard.simulator.server import SimulatorServer

    server = SimulatorServer(args.host, args.port, args.seed, args.state_file, args.key_dir, tier=args.tier,
                             liquidity_interval_s=args.liquidity_interval or None)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"REST URL:         {server.rest_url}")
    print(f"WebSocket URL:    {server.ws_url}")
    print(f"Admin URL:        {server.admin_url}")
    print(f"API key id:       {server.key_id}")
    print(f"Private key file: {server.private_key_path}")
    print(f"Admin token:      {server.admin_token}")
    print(f"Admin token file: {server.admin_token_path}")
    if args.state_file:
        print(f"State file:       {args.state_file}")
    sys.stdout.flush()
    try:
        stop.wait()
    finally:
        server.stop()
    print("simulator stopped", file=sys.stderr)
    return 0
