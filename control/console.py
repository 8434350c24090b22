"""The operator's console on the control server: account view, dashboard page, event stream, ``/metrics``.

:func:`mount` builds them for a running daemon and returns what the control server needs: the routes,
the public paths (the sign-in page and its static files, which carry no data) and a ``close`` to call on
stop. Everything else keeps the server's bearer-token check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute

from kalshi_guard.control.account import AccountView, ExchangeReads
from kalshi_guard.control.dashboard import PUBLIC_PATHS, DashboardFeed, LedgerChanges, dashboard_routes
from kalshi_guard.control.metrics import DaemonMetrics, MetricsSources, metrics_routes


@dataclass(frozen=True, slots=True)
class Console:
    """What :func:`mount` hands the control server."""

    routes: tuple[BaseRoute, ...]
    public_paths: frozenset[str]
    close: Callable[[], None]
    account: AccountView
    metrics: DaemonMetrics


def console_routes(console: Console | None) -> tuple[BaseRoute, ...]:
    """The console's routes: ``console``'s, or (``None``) the same routes unbound, for describing them."""
    if console is not None:
        return console.routes
    return (*dashboard_routes(None, ""), *metrics_routes(None))  # type: ignore[arg-type]  # unbound routes, only described


def mount(daemon: Any, token: str) -> Console:
    """The console for ``daemon`` (its ledger, settings, gate, supervisor and exchange factory).

    The account view reads the exchange through its own client (``exchange_factory("dashboard")``);
    without one (no exchange configured) the figures that need it are ``null`` and say why.
    """
    factory = daemon.sup.services.exchange_factory if daemon.sup is not None else None
    reads = ExchangeReads((lambda: factory("dashboard")) if factory is not None else None)
    account = AccountView(daemon.ledger, lambda: daemon.settings, reads)
    changes = LedgerChanges()

    def version() -> tuple[Any, ...]:
        gate = daemon.gate.snapshot()
        children = tuple((c.name, c.alive, c.restarts, c.status) for c in daemon.sup.statistics().children)
        return changes.count, gate.state, gate.reason, gate.changed_at, children, daemon.ready

    feed = DashboardFeed(daemon, account, daemon.ledger, version, changes.watch)
    metrics = DaemonMetrics(MetricsSources(
        daemon.ledger,
        gate_state=lambda: daemon.gate.snapshot().state.value,
        restarts=lambda: [(c.name, c.restarts) for c in daemon.sup.statistics().children],
        account=account.build,
    ))
    metrics.start()

    def close() -> None:
        metrics.stop()
        changes.close()
        reads.close()

    routes = (*dashboard_routes(feed, token), *metrics_routes(metrics))
    return Console(routes, PUBLIC_PATHS, close, account, metrics)
