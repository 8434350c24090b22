"""The one place the actor tree is built: its children, and the services every actor shares.

The daemon, the pipeline tests and the benchmarks all call :func:`build_tree`, so a test runs the very tree
the daemon runs. The tree's shape (docs/architecture.md §3): two one-for-one children (alerter, guardian),
then the rest-for-one trading group (reconciler, fill watcher, order placer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from kalshi_guard.actors.alerter import Alerter
from kalshi_guard.actors.fill_watcher import FillWatcher
from kalshi_guard.actors.guardian import Guardian
from kalshi_guard.actors.kill_line import KEEPALIVE_EXPIRY_S
from kalshi_guard.actors.order_placer import OrderPlacer
from kalshi_guard.actors.reconciler import Reconciler
from kalshi_guard.actors.services import Services
from kalshi_guard.config.endpoints import make_client, make_stream
from kalshi_guard.config.schema import ExchangeSettings, Settings
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.exchange.meter import CallMeter
from kalshi_guard.supervisor import ChildSpec, Strategy, Supervisor


def child_specs(settings: Settings) -> list[ChildSpec]:
    """The children in start order, each with the configured stop timeout."""
    stop = settings.supervisor.stop_timeout_s
    return [
        ChildSpec("alerter", Alerter, stop_timeout_s=stop),
        ChildSpec("guardian", Guardian, stop_timeout_s=stop),
        ChildSpec("reconciler", Reconciler, strategy=Strategy.REST_FOR_ONE, stop_timeout_s=stop, trading=True),
        ChildSpec("fill_watcher", FillWatcher, strategy=Strategy.REST_FOR_ONE, stop_timeout_s=stop, trading=True),
        ChildSpec("order_placer", OrderPlacer, strategy=Strategy.REST_FOR_ONE, stop_timeout_s=stop, trading=True),
    ]


def exchange_services(exchange: ExchangeSettings, key: Any, *, buckets: Any = None,
                      stale_after: float | None = None, meter: CallMeter | None = None) -> dict[str, Any]:
    """The exchange and stream factories for one account: a client per actor (sharing ``buckets``, the
    budget Kalshi counts per key, when given; every call counted by ``meter`` under the actor's name) and
    the private-channel stream on the same URL and key."""

    def exchange_factory(name: str) -> Any:
        expiry = KEEPALIVE_EXPIRY_S if name in ("guardian", "killswitch") else None  # a stop's kept connection
        return make_client(exchange, key, buckets=buckets, keepalive_expiry=expiry, meter=meter, source=name)

    def stream_factory(on_message: Callable[[Any], None], on_event: Callable[[Any], None]) -> Any:
        kw = {} if stale_after is None else {"stale_after": stale_after}
        return make_stream(exchange, key, on_message, on_event, **kw)

    return {"exchange_factory": exchange_factory, "stream_factory": stream_factory}


def build_tree(
    settings: Settings,
    gate: TradingGate,
    ledger: Any,
    *,
    exchange: ExchangeSettings | None = None,
    key: Any = None,
    buckets: Any = None,
    signals: Any = None,
    wake: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.time,
    specs: Sequence[ChildSpec] | None = None,
    connect: bool = True,
    meter: CallMeter | None = None,
) -> Supervisor:
    """A supervisor (not started) over the tree's children, with typed services for ``exchange`` (default:
    ``settings.exchange``) signed with ``key``. ``specs`` replaces the children (a benchmark's probe);
    ``connect=False`` leaves out the exchange (actors then run without one and refuse orders). ``meter``
    counts every exchange call of every actor for the API error-rate kill switch (the guardian counts only
    the order placer's calls without one)."""
    ex = exchange if exchange is not None else settings.exchange
    links = exchange_services(ex, key, buckets=buckets, stale_after=settings.orders.stream_stale_s,
                              meter=meter) if connect else {}
    services = Services(ledger=ledger, settings=settings if connect else None, signals=signals, clock=clock,
                        meter=meter, **links)
    return Supervisor(list(specs) if specs is not None else child_specs(settings), gate, settings.supervisor,
                      services=services, wake=wake)
