"""One way for every benchmark to report a figure: printed beside its goal, and recorded for ``bench/run.py``.

``figure(name, value, goal, ok)`` prints ``name  value  goal …  PASS|SHORT`` (``ok=None``: information, no
verdict) and, when ``KG_BENCH_OUT`` names a file, appends the figure to it as one JSON line.
``quick()`` is true when the runner asked for the short form (``--quick``): benchmarks take fewer samples.
"""

from __future__ import annotations

import json
import os
import sys

OUT_ENV = "KG_BENCH_OUT"
QUICK_ENV = "KG_BENCH_QUICK"


def quick() -> bool:
    """Whether the short form was asked for."""
    return os.environ.get(QUICK_ENV) == "1"


def figure(name: str, value: str, goal: str = "-", ok: bool | None = None) -> None:
    """Print one figure beside its goal and record it for the runner."""
    verdict = "" if ok is None else ("PASS" if ok else "SHORT")
    print(f"  {name:<62} {value:>14}   goal {goal:<14} {verdict}", flush=True)
    path = os.environ.get(OUT_ENV)
    if path:
        script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "?"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"bench": script, "name": name, "value": value, "goal": goal,
                                 "verdict": verdict or "info"}) + "\n")
