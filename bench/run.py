"""Run every benchmark and print one table: each performance goal of the project, its figure from this run,
and PASS or SHORT (information lines carry no verdict); the table is also written as JSON for comparison
between runs.

    .venv/bin/python bench/run.py [--quick] [--long] [--only NAME ...] [--json FILE]

Each ``bench/bench_*.py`` runs in its own process (a crash of one does not stop the others: it is reported as
SHORT with its exit code). ``--quick`` asks the benchmarks for their short form. Exit 0 when every goal
PASSes, 1 when any is SHORT or a benchmark failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


LONG = ("chaos.py", "soak.py")  # minutes each (their --quick forms: a few rounds, two minutes)


def benchmarks(only: list[str] | None, long: bool = False) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py")) + ([HERE / name for name in LONG] if long else [])
    if only:
        found = [p for p in found if any(o in p.stem for o in only)]
    return found


def run_one(path: Path, quick: bool) -> tuple[list[dict[str, str]], int, float]:
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", delete=False) as out:
        out_path = out.name
    env = dict(os.environ, KG_BENCH_OUT=out_path, KG_BENCH_QUICK="1" if quick else "0")
    started = time.monotonic()
    print(f"== {path.name}", flush=True)
    code = subprocess.run([sys.executable, str(path)], env=env, cwd=HERE.parent, check=False).returncode
    took = time.monotonic() - started
    rows = [json.loads(line) for line in Path(out_path).read_text().splitlines() if line.strip()]
    Path(out_path).unlink(missing_ok=True)
    return rows, code, took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the benchmarks' short forms")
    ap.add_argument("--only", nargs="*", help="run the benchmarks whose name contains one of these")
    ap.add_argument("--long", action="store_true", help="also the chaos and soak runs (bench/chaos.py, bench/soak.py)")
    ap.add_argument("--json", default="bench-results.json", help="where to write the table as JSON")
    args = ap.parse_args(argv)
    table: list[dict[str, str]] = []
    failures: list[str] = []
    for path in benchmarks(args.only, args.long):
        rows, code, took = run_one(path, args.quick)
        table += rows
        if code != 0:
            failures.append(f"{path.name} exited {code}")
            table.append({"bench": path.name, "name": "benchmark finished", "value": f"exit {code}", "goal": "exit 0",
                          "verdict": "SHORT"})
        print(f"   ({took:.0f} s)", flush=True)
    width = max([len(r["name"]) for r in table] + [10])
    print()
    print(f"{'benchmark':<22} {'figure':<{width}} {'value':>16}  {'goal':<16} verdict")
    for r in table:
        print(f"{r['bench']:<22} {r['name']:<{width}} {r['value']:>16}  {r['goal']:<16} {r['verdict']}")
    goals = [r for r in table if r["verdict"] != "info"]
    short = [r for r in goals if r["verdict"] != "PASS"]
    print(f"\n{len(goals) - len(short)} of {len(goals)} goals PASS" + (f"; SHORT: {len(short)}" if short else ""))
    Path(args.json).write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                           "quick": args.quick, "figures": table, "failures": failures}, indent=1))
    print(f"written: {args.json}")
    return 0 if not short and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
