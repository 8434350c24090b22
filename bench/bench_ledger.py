"""Ledger figures: write-ahead intent, transition and fill booking latency on SQLite (synchronous=FULL) and PG.

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

from ledger import FillRecord, Ledger, OrderStatus

GOAL_P99_MS = 20.0  # one write-ahead step must not hold an order back noticeably
GOAL_ORDERS_PER_S = 50.0  # full intent → sent → fill cycles per second, far above Kalshi's write budget


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
    print(f"{sa.make_url(url).get_backend_name()}: {n} cycles, {n / elapsed:.0f} cycles/s "
          f"(goal ≥ {GOAL_ORDERS_PER_S:.0f})")
    for name, xs in lat.items():
        xs.sort()
        p99 = xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000
        print(f"  {name:14s} p50 {statistics.median(xs) * 1000:6.2f} ms  p99 {p99:6.2f} ms  "
              f"(goal p99 < {GOAL_P99_MS:.0f} ms) {'OK' if p99 < GOAL_P99_MS else 'MISSED'}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as d:
        run(f"sqlite:///{d}/bench.sqlite", n)
    if len(sys.argv) > 2:
        base = sys.argv[2]
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(base)
        with admin.begin() as c:
            c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            run(f"{base}?options={quote(f'-csearch_path={schema}')}", n)
        finally:
            with admin.begin() as c:
                c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


if __name__ == "__main__":
    main()
