"""Soak: simulated trading for 30 minutes with 1 % faults of every kind, a reconciliation every minute, and a
kill switch and a reset every few minutes.

    .venv/bin/python bench/soak.py [--minutes 30] [--quick] [--seed N]

Goals: zero discrepancies between the ledger and the exchange at every stop and at the end; RSS growth < 10 %
after a warm-up (the first fifth of the run); no growth in open file descriptors or threads; the order
confirmation latency percentiles of the first and last five minutes printed side by side.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from kalshi_guard.simulator.markets import DEFAULT_TICKERS

from figures import figure, quick
from harness import Daemon, HarnessError, Sim, audit

TICKERS = DEFAULT_TICKERS[:2]
FAULTS = {"error_5xx_rate": {"*": 0.01}, "rate_429": {"*": 0.01}, "stream_drop_rate": 0.01,
          "stream_duplicate_rate": 0.01, "stream_reorder_rate": 0.01}

# The soak is about faults, stops, reconciliation and leaks, so the loss and exposure limits are lifted:
# with the defaults, buying at 0.99 trips the $50 daily loss within a minute or two, and every reset trips it
# again, so the rest of the run traded nothing (the first 30-minute runs confirmed ~2,000 orders, nearly all
# in their first minutes). The order-rate throttle stays as shipped.
KEEP_TRADING = {f"KALSHI_GUARD_LIMITS__{k}": "1000000" for k in (
    "MAX_DAILY_LOSS", "MAX_MARKET_EXPOSURE", "MAX_EVENT_EXPOSURE", "MAX_TOTAL_EXPOSURE")}
KEEP_TRADING["KALSHI_GUARD_LIMITS__MAX_BALANCE_DROP"] = "1"


def proc_sample(pid: int) -> tuple[float, int, int]:
    """(RSS MB, open fds, threads) of ``pid`` from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
    threads = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
    fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    return rss, fds, threads


def pct(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    minutes = args.minutes if args.minutes is not None else (2.0 if args.quick or quick() else 30.0)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kalshi-guard-soak-") as tmp:
        sim = Sim(Path(tmp) / "sim", args.seed)
        d = Daemon(Path(tmp) / "state", sim, KALSHI_GUARD_RECONCILE__INTERVAL_S="60",
                   KALSHI_GUARD_LIMITS__MAX_CONSECUTIVE_LOSSES="1000", KALSHI_GUARD_LIMITS__MAX_API_ERROR_RATE="1",
                    KALSHI_GUARD_LIMITS__PRICE_COLLAR="1", **KEEP_TRADING)
        try:
            return soak(sim, d, minutes, rng)
        except HarnessError as exc:
            print(f"soak: {exc}", file=sys.stderr)
            return 1
        finally:
            d.stop()
            sim.stop()


def soak(sim: Sim, d: Daemon, minutes: float, rng: random.Random) -> int:
    d.start()
    d.wait_ready()
    sim.admin("POST", "/faults", {"seed": rng.randrange(1 << 30), **FAULTS})
    assert d.proc is not None
    started = time.monotonic()
    end = started + minutes * 60
    latencies: list[tuple[float, float]] = []  # (elapsed s, confirmation ms)
    answers: Counter[str] = Counter()  # the order answers, by status and code (printed: the bot's view)
    samples: list[tuple[float, float, int, int]] = []
    problems: list[str] = []
    stops = 0
    stop_every = max(60.0, minutes * 60 / 8)
    next_stop = started + stop_every
    pause = threading.Event()
    halted_seen = False
    with httpx.Client(base_url=d.url, headers={"Authorization": f"Bearer {d.token()}"}, timeout=30,
                      trust_env=False) as c:
        last_sample = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            if now - last_sample >= 10:
                samples.append((now - started, *proc_sample(d.proc.pid)))
                last_sample = now
            if now >= next_stop:
                c.post("/api/bot/emergency-stop", json={"reason": "soak: scheduled kill switch"})
                sim.admin("DELETE", "/faults")
                moving = d.wait_settled()
                found = audit(d.ledger_url, sim)["problems"] + ([f"not settled after 60 s: {moving}"] if moving else [])
                problems += [f"stop {stops + 1}: {p}" for p in found]
                r = c.post("/api/bot/reset", json={"reason": "soak: audited"})
                halted_seen = False
                stops += 1
                print(f"  stop {stops}: {len(found)} discrepancies, reset {r.status_code}", flush=True)
                sim.admin("POST", "/faults", {"seed": rng.randrange(1 << 30), **FAULTS})
                next_stop = now + stop_every
                continue
            body = {"ticker": rng.choice(TICKERS), "outcome": rng.choice(["yes", "no"]), "action": "buy",
                    "count": "1", "price": "0.99", "time_in_force": "ioc", "client_order_id": f"soak-{uuid.uuid4()}"}
            t0 = time.perf_counter()
            try:
                r = c.post("/api/orders", json=body)
                key = answer_key(r)
                answers[key] += 1
                if key.endswith("GATE_HALTED") and not halted_seen:  # halted between the scheduled stops: say why
                    halted_seen = True
                    gate = c.get("/api/status").json().get("gate", {})
                    print(f"  halted at {now - started:.0f} s, not by the soak: {gate.get('reason')}", flush=True)
                if r.status_code == 200:
                    latencies.append((now - started, (time.perf_counter() - t0) * 1000))
            except httpx.HTTPError as exc:
                answers[type(exc).__name__] += 1
            pause.wait(0.02)
    sim.admin("DELETE", "/faults")
    moving = d.wait_settled()
    found = audit(d.ledger_url, sim)["problems"] + ([f"not settled after 60 s: {moving}"] if moving else [])
    problems += [f"end: {p}" for p in found]
    print("  order answers: " + ", ".join(f"{k} {v}" for k, v in answers.most_common()))
    log = (d.state / "daemon.stderr").read_text(errors="replace") if problems else ""
    return report(minutes, latencies, samples, problems, stops, log)


def answer_key(r: httpx.Response) -> str:
    """``200 FILLED``, ``409 REJECTED GATE_HALTED``, …: the HTTP status, the order's status and reason."""
    try:
        body = r.json()
    except ValueError:
        return str(r.status_code)
    if not isinstance(body, dict):
        return str(r.status_code)
    code = " ".join(str(body[k]) for k in ("status", "reason") if body.get(k))
    return f"{r.status_code} {code}" if code else str(r.status_code)


def report(minutes: float, latencies: list[tuple[float, float]], samples: list[tuple[float, float, int, int]],
           problems: list[str], stops: int, log: str = "") -> int:
    """Print the figures; with discrepancies, the daemon's log lines that name their orders."""
    warm = minutes * 60 / 5
    after = [s for s in samples if s[0] >= warm] or samples
    rss0, rss1 = after[0][1], max(s[1] for s in after)
    growth = (rss1 - rss0) / rss0 * 100
    fd0, fd1 = after[0][2], after[-1][2]
    th0, th1 = after[0][3], after[-1][3]
    window = min(300.0, minutes * 60 / 3)
    first = [ms for t, ms in latencies if t < window]
    last = [ms for t, ms in latencies if t >= minutes * 60 - window]
    print(f"\nsoak: {minutes:g} min, {len(latencies)} confirmed orders, {stops} kill switches and resets")
    step = max(1, len(samples) // 15)
    print("  RSS MB by minute: " + ", ".join(f"{t / 60:.1f}: {rss:.1f}" for t, rss, _fd, _th in samples[::step]))
    for p in problems[:30]:
        print(f"  DISCREPANCY {p}")
    ids = sorted({w for p in problems for w in re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", p)})[:5]
    for line in [ln for ln in log.splitlines() if any(i in ln for i in ids)][-40:]:
        print(f"  LOG {line[:300]}")
    figure("soak: discrepancies (every stop and the end)", str(len(problems)), "0", not problems)
    figure(f"soak: RSS growth after warm-up ({rss0:.1f} -> peak {rss1:.1f} MB)", f"{growth:.1f} %", "< 10 %",
           growth < 10)
    figure("soak: open file descriptors, after warm-up -> end", f"{fd0} -> {fd1}", "no growth", fd1 <= fd0 + 2)
    figure("soak: threads, after warm-up -> end", f"{th0} -> {th1}", "no growth", th1 <= th0 + 1)
    for q in (0.5, 0.99):
        figure(f"soak: confirmation p{q * 100:g}, first vs last {window / 60:g} min",
               f"{pct(first, q):.1f} / {pct(last, q):.1f} ms")
    if first and last:
        means = f"{statistics.mean(first):.1f} / {statistics.mean(last):.1f} ms"
        figure("soak: confirmation mean, first vs last", means)
    return 0 if not problems and growth < 10 and fd1 <= fd0 + 2 and th1 <= th0 + 1 else 1


if __name__ == "__main__":
    sys.exit(main())
