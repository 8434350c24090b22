"""Ledger figures: per-method latency of the order hot path, and full cycles, on SQLite and PostgreSQL.

The micro-benchmark times each hot-path method alone (median over many calls, SQLite WAL with
synchronous=NORMAL, the daemon's default) against its goal; the cycle figures time intent → sent → fill.

Usage: .venv/bin/python bench/bench_ledger.py [N] [postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from urllib.parse import quote

import sqlalchemy as sa

from kalshi_guard.ledger import FillRecord, Ledger, OrderStatus

from figures import figure

GOAL_P99_MS = 20.0  # one write-ahead step must not hold an order back noticeably
GOAL_ORDERS_PER_S = 50.0  # full intent → sent → fill cycles per second, far above Kalshi's write budget


# Per-call goals (ms, median) for the order pipeline's ~300 confirmed orders/s on SQLite.
MICRO_GOALS_MS = {
    "insert_intent": 0.3,
    "book_fill": 0.7,
    "transition": 0.4,
    "positions": 0.2,
    "non_final_orders": 0.2,
    "get_order": 0.15,
}
OPEN_ROWS = 5  # "a handful": open positions and non-final orders present during the reads


def _intent(led: Ledger, coid: str, ticker: str) -> None:
    led.insert_intent(client_order_id=coid, ticker=ticker, event_ticker="KXA-26", book_side="bid",
                      outcome="yes", action="buy", count=Decimal(2), price=Decimal("0.5"),
                      time_in_force="immediate_or_cancel")


def micro(url: str, n: int) -> None:
    """Time each hot-path method alone; print the median beside its goal."""
    led = Ledger.open(url)
    for k in range(OPEN_ROWS):  # a handful of open positions and resting orders
        _intent(led, f"open{k}", f"KXA-26-O{k}")
        led.transition(f"open{k}", OrderStatus.RESTING, order_id=f"x-open{k}")
        led.book_fill(FillRecord(f"open-t{k}", f"open{k}", None, f"KXA-26-O{k}", "bid", Decimal(1),
                                 Decimal("0.5"), Decimal("0.01"), True, time.time()))
    lat: dict[str, list[float]] = {name: [] for name in MICRO_GOALS_MS}

    def timed(name: str, fn, *args, **kw):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        lat[name].append(time.perf_counter() - t0)
        return out

    for i in range(n):
        coid = f"m{i}"
        timed("positions", led.positions, open_only=True)
        timed("non_final_orders", led.non_final_orders)
        t0 = time.perf_counter()
        _intent(led, coid, "KXA-26-T1")
        lat["insert_intent"].append(time.perf_counter() - t0)
        timed("book_fill", led.book_fill, FillRecord(f"m-t{i}", coid, f"x-{coid}", "KXA-26-T1", "bid", Decimal(1),
                                                     Decimal("0.5"), Decimal("0.01"), True, time.time()))
        timed("transition", led.transition, coid, OrderStatus.CANCELED, order_id=f"x-{coid}",
              filled_count=Decimal(1), remaining_count=Decimal(0), reason="ioc rest canceled")
        timed("get_order", led.get_order, coid)
    led.close()
    backend = sa.make_url(url).get_backend_name()
    print(f"{backend} micro ({n} calls each, {OPEN_ROWS} open positions/orders, median):")
    for name, goal in MICRO_GOALS_MS.items():
        xs = sorted(lat[name])
        med = statistics.median(xs) * 1000
        p90 = xs[int(len(xs) * 0.9)] * 1000
        figure(f"ledger {backend} {name}, median (p90 {p90:.3f} ms)", f"{med:.3f} ms",
               f"<= {goal:.2f} ms" if backend == "sqlite" else "-", med <= goal if backend == "sqlite" else None)


def run(url: str, n: int) -> None:
    led = Ledger.open(url)
    lat: dict[str, list[float]] = {"insert_intent": [], "transition": [], "book_fill": []}
    start = time.perf_counter()
    for i in range(n):
        coid = f"c{i}"
        t0 = time.perf_counter()
        led.insert_intent(client_order_id=coid, ticker="KXA-26-T1", event_ticker="KXA-26", book_side="bid",
                          outcome="yes", action="buy", count=Decimal(1), price=Decimal("0.5"),
                          time_in_force="good_till_canceled")
        t1 = time.perf_counter()
        led.transition(coid, OrderStatus.SENT)
        t2 = time.perf_counter()
        led.book_fill(FillRecord(f"t{i}", coid, None, "KXA-26-T1", "bid", Decimal(1), Decimal("0.5"),
                                 Decimal("0.01"), True, time.time()))
        t3 = time.perf_counter()
        lat["insert_intent"].append(t1 - t0)
        lat["transition"].append(t2 - t1)
        lat["book_fill"].append(t3 - t2)
    elapsed = time.perf_counter() - start
    led.close()
    backend = sa.make_url(url).get_backend_name()
    figure(f"ledger {backend} write cycles/s ({n} cycles)", f"{n / elapsed:.0f}/s", f">= {GOAL_ORDERS_PER_S:.0f}/s",
           n / elapsed >= GOAL_ORDERS_PER_S)
    for name, xs in lat.items():
        xs.sort()
        p99 = xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000
        figure(f"ledger {backend} cycle {name}, p99", f"{p99:.2f} ms", f"< {GOAL_P99_MS:.0f} ms", p99 < GOAL_P99_MS)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as d:
        micro(f"sqlite:///{d}/micro.sqlite", max(n, 1000))
        run(f"sqlite:///{d}/bench.sqlite", n)
    if len(sys.argv) > 2:
        base = sys.argv[2]
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(base)
        with admin.begin() as c:
            c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            pg = f"{base}?options={quote(f'-csearch_path={schema}')}"
            micro(pg, n)
            run(pg, n)
        finally:
            with admin.begin() as c:
                c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


if __name__ == "__main__":
    main()
