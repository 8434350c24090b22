"""``GET /metrics``: the daemon in Prometheus text format (prometheus-client), behind the bearer token.

Two kinds of figures, in one registry per daemon (never the process-global default registry):

- **counted as they happen**, from :mod:`kalshi_guard.core.observe`: exchange API calls and errors by
  method and route template, confirmations by status with their latency histogram, discrepancies by kind;
- **read at scrape time** from the gate, the supervisor and the ledger (so they survive a restart and
  never drift from the record): gate state, orders by status, fills, today's P&L, exposure, reconciliation
  runs, alert deliveries by channel and status, actor restarts, balance.

A scrape that cannot read the ledger or the exchange still answers: the families are present, the
figures it could not read are left out, and ``kalshi_guard_scrape_errors`` counts what failed (a
monitoring system should alert on it). Why the token: ``/metrics`` reveals positions, P&L and balance,
which is account information; it is served on the control port with the same bearer token as the rest
(Prometheus sends it with ``authorization: {credentials_file: …}``) rather than on a second unprotected port.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from loguru import logger
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kalshi_guard.core import observe
from kalshi_guard.core.gate import GateState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FINAL = ("FILLED", "CANCELED", "REJECTED")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# every family /metrics always carries (the test checks each one)
FAMILIES = (
    "kalshi_guard_gate_state", "kalshi_guard_orders", "kalshi_guard_orders_final",
    "kalshi_guard_confirmations", "kalshi_guard_confirmation_latency_seconds", "kalshi_guard_fills",
    "kalshi_guard_filled_contracts", "kalshi_guard_pnl_today_dollars", "kalshi_guard_exposure_dollars",
    "kalshi_guard_limit_used_ratio", "kalshi_guard_api_calls", "kalshi_guard_api_errors",
    "kalshi_guard_reconciliations", "kalshi_guard_discrepancies", "kalshi_guard_alert_deliveries",
    "kalshi_guard_actor_restarts", "kalshi_guard_balance_dollars", "kalshi_guard_scrape_errors",
)


def _f(value: Decimal | int | None) -> float:
    """Prometheus samples are floats: the one place money leaves Decimal (display only)."""
    return float(value or 0)


class _StateCollector(Collector):
    """The figures read at scrape time."""

    def __init__(self, sources: MetricsSources) -> None:
        self._src = sources
        self.errors = 0

    def _try(self, what: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception as exc:
            self.errors += 1
            logger.warning("metrics: could not read {}: {}", what, type(exc).__name__)
            return None

    def collect(self) -> Iterator[Metric]:
        src = self._src
        gate = GaugeMetricFamily("kalshi_guard_gate_state", "1 for the gate's current state", labels=["state"])
        snap = self._try("gate", src.gate_state)
        for state in GateState:
            gate.add_metric([state.value], 1.0 if snap == state.value else 0.0)
        yield gate

        orders = GaugeMetricFamily("kalshi_guard_orders", "Ledger orders by current status", labels=["status"])
        final = CounterMetricFamily("kalshi_guard_orders_final", "Orders that reached a final status",
                                    labels=["status"])
        counts = self._try("orders", src.ledger.order_status_counts) or {}
        for status, n in sorted(counts.items()):
            orders.add_metric([status], n)
        for status in FINAL:
            final.add_metric([status], counts.get(status, 0))
        yield orders
        yield final

        fills = CounterMetricFamily("kalshi_guard_fills", "Fills booked in the ledger")
        contracts = CounterMetricFamily("kalshi_guard_filled_contracts", "Contracts filled")
        totals = self._try("fills", src.ledger.fill_totals)
        if totals is not None:
            fills.add_metric([], totals[0])
            contracts.add_metric([], _f(totals[1]))
        yield fills
        yield contracts

        account = self._try("account", src.account)
        pnl = GaugeMetricFamily("kalshi_guard_pnl_today_dollars", "Today's P&L (UTC day)", labels=["kind"])
        limits = GaugeMetricFamily("kalshi_guard_limit_used_ratio", "Figure ÷ its limit", labels=["limit"])
        exposure = GaugeMetricFamily("kalshi_guard_exposure_dollars", "Worst-case exposure", labels=["scope"])
        balance = GaugeMetricFamily("kalshi_guard_balance_dollars", "Exchange balance and portfolio value",
                                    labels=["kind"])
        if account is not None:
            for kind, value in account["pnl_today"].items():
                if value is not None:
                    pnl.add_metric([kind], _f(value))
            for row in account["limits"]:
                if row["used"] is not None:
                    limits.add_metric([row["name"]], _f(row["used"]))
                if row["name"].endswith("_exposure"):
                    exposure.add_metric([row["name"].removesuffix("_exposure")], _f(row["value"]))
            for kind in ("balance", "portfolio_value"):
                if account[kind] is not None:
                    balance.add_metric([kind], _f(account[kind]))
        yield from (pnl, exposure, limits, balance)

        recon = CounterMetricFamily("kalshi_guard_reconciliations", "Reconciliation passes", labels=["outcome"])
        runs = self._try("reconciliations", src.ledger.reconciliation_counts)
        if runs is not None:
            recon.add_metric(["clean"], runs[True])
            recon.add_metric(["not_clean"], runs[False])
        yield recon

        alerts = CounterMetricFamily("kalshi_guard_alert_deliveries", "Alert deliveries by channel and status",
                                     labels=["channel", "status"])
        for (channel, status), n in sorted((self._try("alerts", src.ledger.alert_delivery_counts) or {}).items()):
            alerts.add_metric([channel, status], n)
        yield alerts

        restarts = CounterMetricFamily("kalshi_guard_actor_restarts", "Restarts of each actor", labels=["actor"])
        for name, n in self._try("supervisor", src.restarts) or ():
            restarts.add_metric([name], n)
        yield restarts

        errors = CounterMetricFamily("kalshi_guard_scrape_errors", "Reads that failed while scraping")
        errors.add_metric([], self.errors)
        yield errors


class MetricsSources:
    """What the collector reads: the ledger, the gate's state, the actors' restarts, the account view."""

    def __init__(self, ledger: Any, gate_state: Callable[[], str], restarts: Callable[[], list[tuple[str, int]]],
                 account: Callable[[], Mapping[str, Any]]) -> None:
        self.ledger = ledger
        self.gate_state = gate_state
        self.restarts = restarts
        self.account = account


class DaemonMetrics:
    """The daemon's registry. :meth:`start` subscribes to the observation points, :meth:`stop` leaves."""

    def __init__(self, sources: MetricsSources) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.api_calls = Counter("kalshi_guard_api_calls", "Exchange API calls by method and route",
                                 ["method", "route"], registry=r)
        self.api_errors = Counter("kalshi_guard_api_errors", "Exchange API calls that failed, by error class",
                                  ["method", "route", "error"], registry=r)
        self.confirmations = Counter("kalshi_guard_confirmations", "Confirmations by status", ["status"], registry=r)
        self.latency = Histogram("kalshi_guard_confirmation_latency_seconds", "Order request → confirmation",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.discrepancies = Counter("kalshi_guard_discrepancies", "Discrepancies found, by kind", ["kind"],
                                     registry=r)
        r.register(_StateCollector(sources))
        self._unsubscribe: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def on_event(self, kind: str, fields: Mapping[str, Any]) -> None:
        """A sink for :func:`kalshi_guard.core.observe.subscribe`."""
        if kind == "api_call":
            labels = (str(fields.get("method")), str(fields.get("route")))
            self.api_calls.labels(*labels).inc()
            if fields.get("error"):
                self.api_errors.labels(*labels, str(fields["error"])).inc()
        elif kind == "confirmation":
            self.confirmations.labels(str(fields.get("status"))).inc()
            if fields.get("latency_ms") is not None:
                self.latency.observe(float(fields["latency_ms"]) / 1000.0)
        elif kind == "discrepancy":
            self.discrepancies.labels(str(fields.get("kind"))).inc()

    def start(self) -> None:
        """Start counting events (idempotent)."""
        with self._lock:
            if self._unsubscribe is None:
                self._unsubscribe = observe.subscribe(self.on_event)

    def stop(self) -> None:
        """Stop counting events."""
        with self._lock:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None

    def render(self) -> bytes:
        """The text exposition."""
        return generate_latest(self.registry)



def metrics_routes(metrics: DaemonMetrics | None) -> list[Route]:
    """``GET /metrics`` (protected by the server's bearer check like every non-public route); ``None``: the
    route unbound (it answers 503), for describing the API."""

    async def serve(_request: Request) -> Response:
        if metrics is None:
            return Response(b"no metrics\n", status_code=503, media_type=CONTENT_TYPE)
        body = await run_in_threadpool(metrics.render)
        return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    return [Route("/metrics", serve, methods=["GET"])]
