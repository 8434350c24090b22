"""Order creates per second against the simulator over loopback, signing included (goal: >= 500/s)."""

from __future__ import annotations

import time

from kalshi_guard.simulator.testing import ORDERS, SignedClient, order_body, running_simulator

from figures import figure

N = 2000
GOAL = 500


def main() -> None:
    with running_simulator(seed=1) as sim, SignedClient(sim) as client:
        for _ in range(50):  # warm-up
            client.post(ORDERS, order_body(price="0.10", count="1.00"))
        t0 = time.perf_counter()
        for _ in range(N):
            r = client.post(ORDERS, order_body(price="0.10", count="1.00"))
            assert r.status_code == 201, r.text
        dt = time.perf_counter() - t0
        figure("simulator creates/s (sequential, one signed httpx client)", f"{N / dt:.0f}/s", f">= {GOAL}/s",
               N / dt >= GOAL)
        figure("simulator create, mean latency", f"{dt / N * 1000:.2f} ms")


if __name__ == "__main__":
    main()
