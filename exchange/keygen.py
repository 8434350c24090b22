"""``kalshi-guard keygen``: write an RSA key pair for Kalshi or the simulator (private key 0600)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kalshi_guard.exchange.keys import generate_private_key, public_pem, write_private_key

PRIVATE_NAME = "kalshi-private-key.pem"
PUBLIC_NAME = "kalshi-public-key.pem"


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, common: argparse.ArgumentParser
) -> None:
    """Register the ``keygen`` subcommand."""
    p = subparsers.add_parser(name, parents=[common], help="write an RSA key pair for Kalshi / the simulator",
                              description="Write kalshi-private-key.pem (0600) and kalshi-public-key.pem.")
    p.add_argument("--out", metavar="DIR", default=".", help="directory to write into (default: .)")
    p.add_argument("--bits", type=int, default=2048, choices=(2048, 3072, 4096), help="RSA key size")
    p.add_argument("--force", action="store_true", help="overwrite an existing key pair")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the pair; 1 when a key exists (without ``--force``) or the directory is unwritable."""
    out = Path(args.out).expanduser()
    private, public = out / PRIVATE_NAME, out / PUBLIC_NAME
    existing = [p for p in (private, public) if p.exists()]
    if existing and not args.force:
        names = ", ".join(str(p) for p in existing)
        print(f"kalshi-guard keygen: refusing to overwrite {names} (use --force)", file=sys.stderr)
        return 1
    try:
        key = generate_private_key(args.bits)
        if private.exists():
            private.unlink()  # recreate so the 0600 mode applies from the first byte
        write_private_key(private, key)
        tmp = public.with_suffix(".tmp")
        tmp.write_bytes(public_pem(key))
        os.replace(tmp, public)
    except OSError as exc:
        print(f"kalshi-guard keygen: cannot write to {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"private key: {private} (mode 0600; keep it secret, never commit it)")
    print(f"public key:  {public}")
    print("Register the public key:")
    print("  Kalshi (demo or production): Account → API keys → create a key with your own public key,")
    print(f"    paste the contents of {public.name}; put the key id Kalshi shows into exchange.key_id")
    print(f"    and set exchange.private_key_file = \"{private}\".")
    print("  Simulator: kalshi-guard sim registers keys with its own key directory; or call")
    print("    simulator register_key(public_pem) in tests and use the returned key id.")
    return 0
