"""The order pipeline in-process and for real: the five actors under the supervisor, a SQLite ledger, and
the simulator on loopback (REST + WebSocket). Only the bot is the test."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from kalshi_guard.actors.facade import TradingFacade
from kalshi_guard.actors.messages import Hang, Ping
from kalshi_guard.config.endpoints import make_client
from kalshi_guard.config.schema import ExchangeSettings, Settings
from kalshi_guard.control.tree import build_tree
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.exchange.meter import CallMeter
from kalshi_guard.ledger import Ledger, OrderStatus
from kalshi_guard.ledger.schema import FillRow
from kalshi_guard.simulator.testing import admin_request, running_simulator
from kalshi_guard.supervisor import Supervisor
from tests.waiting import wait_until


@dataclass
class Pipeline:
    sim: Any
    ledger: Ledger
    gate: TradingGate
    sup: Supervisor
    trading: TradingFacade
    settings: Settings
    _stop: threading.Event
    ledger_url: str = ""
    _ticking: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def supervisor_paused(self) -> Iterator[None]:
        """No supervisor pass runs inside (so no heartbeat Ping lands in any mailbox); it resumes on exit."""
        with self._ticking:
            yield

    @contextlib.contextmanager
    def held(self, name: str) -> Iterator[HeldActor]:
        """Hang the child ``name`` (a ``Hang`` test hook, the supervisor paused so no heartbeat lands in its
        mailbox) for the block: what is told to it meanwhile waits, in order. On exit it goes on."""
        release = _Release()
        with ThreadPoolExecutor(8) as pool:
            try:
                with self.supervisor_paused():
                    actor = HeldActor(self, name, pool)
                    actor.handle.tell(Hang(release))
                    assert release.entered.wait(10), f"{name} did not take the Hang"
                    yield actor
            finally:
                release.set()

    def requests(self, route: str) -> int:
        """How many REST requests the simulator received on ``route`` (``create_order``, ``batch_create``…)."""
        return self.sim.ctx.requests[route]

    def exchange_orders(self, ticker: str | None = None) -> list[Any]:
        """Every order the exchange holds for our key (via a fresh client)."""
        with make_client(self.settings.exchange, self.sim.private_key) as c:
            return c.list_orders(ticker=ticker)

    def exchange_client(self) -> Any:
        """A fresh client on the pipeline's key (close it after use)."""
        return make_client(self.settings.exchange, self.sim.private_key)

    def exchange_fills(self) -> list[Any]:
        with make_client(self.settings.exchange, self.sim.private_key) as c:
            return c.get_fills()

    def exchange_positions(self) -> dict[str, Any]:
        with make_client(self.settings.exchange, self.sim.private_key) as c:
            return {p.ticker: p.position for p in c.get_positions().market_positions if p.position != 0}

    def ledger_positions(self) -> dict[str, Any]:
        return {p.ticker: p.net_count for p in self.ledger.positions(open_only=True) if p.net_count != 0}

    def ledger_fills(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Booked fills ``trade_id -> (count, YES price)``, read straight from the ledger's database."""
        engine = create_engine(self.ledger_url)
        try:
            with engine.connect() as conn:
                return {r.trade_id: (r.count, r.price) for r in conn.execute(select(FillRow))}
        finally:
            engine.dispose()

    def exchange_fills_by_trade(self) -> dict[str, tuple[Decimal, Decimal]]:
        """The exchange's fills ``trade_id -> (count, YES price)``."""
        return {f.trade_id: (f.count, f.price) for f in self.exchange_fills()}

    def history(self, client_order_id: str) -> list[str]:
        """The ledger statuses this order went through, in order (INTENT first)."""
        return [to.value for _, to, _ in self.ledger.order_history(client_order_id)]

    def status(self, client_order_id: str) -> str | None:
        """The order's ledger status now (None when there is no row)."""
        record = self.ledger.get_order(client_order_id)
        return None if record is None else record.status.value

    def wait_status(self, client_order_id: str, *statuses: str, timeout: float = 15.0) -> str:
        """Wait until the ledger shows one of ``statuses`` for the order; returns it."""
        return self.wait(lambda: (self.status(client_order_id) in statuses) and self.status(client_order_id),
                         timeout, f"{client_order_id} in {statuses} (now {self.status(client_order_id)})")

    def exchange_orders_for(self, client_order_id: str) -> list[Any]:
        """The exchange's orders carrying this client_order_id (exactly one, or none, is the goal)."""
        return [o for o in self.exchange_orders() if o.client_order_id == client_order_id]

    def counterparty(self, order_id: str, count: Decimal | str | int) -> dict[str, Any]:
        """A stranger (another account) trades ``count`` against our resting order ``order_id``."""
        return self.sim.exchange.counterparty_fill(order_id, count)

    def faults(self, **spec: Any) -> None:
        """Configure the simulator's faults (``timeout_after_accept={"create_order": 1}``, ...)."""
        self.sim.exchange.faults.configure(spec)

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST to the simulator's admin API (``/_sim``); returns the decoded JSON."""
        r = admin_request(self.sim, "POST", path, body or {})
        r.raise_for_status()
        return r.json()

    def assert_matches_exchange(self) -> None:
        """The ledger equals the exchange: every order (status, filled count), fills by trade_id, positions.

        Only the orders placed through the pipeline are compared (the ledger's); an exchange order carrying
        one of their client_order_ids must be unique.
        """
        on_exchange: dict[str, list[Any]] = {}
        for o in self.exchange_orders():
            on_exchange.setdefault(o.client_order_id, []).append(o)
        for rec in self.ledger.orders():
            found = on_exchange.get(rec.client_order_id, [])
            assert len(found) <= 1, f"{rec.client_order_id} is on the exchange {len(found)} times"
            if not found:
                assert rec.status is OrderStatus.REJECTED, f"{rec.client_order_id}: {rec.status} but not on exchange"
                assert rec.filled_count == 0
                continue
            ex = found[0]
            assert rec.order_id == ex.order_id, rec
            assert rec.filled_count == ex.fill_count, (rec, ex)
            expected = {"resting": {OrderStatus.RESTING, OrderStatus.PARTIAL}, "executed": {OrderStatus.FILLED},
                        "canceled": {OrderStatus.CANCELED}}[ex.status.value]
            if ex.status.value == "resting":
                expected = {OrderStatus.PARTIAL} if ex.fill_count > 0 else {OrderStatus.RESTING}
            assert rec.status in expected, (rec.client_order_id, rec.status, ex.status.value)
        ours = {rec.order_id for rec in self.ledger.orders() if rec.order_id}
        exchange_fills = self.exchange_fills_by_trade()
        assert {f.order_id for f in self.exchange_fills()} <= ours, "a fill of an order the ledger never knew"
        assert self.ledger_fills() == exchange_fills
        assert self.ledger_positions() == self.exchange_positions()

    def tick(self, name: str = "fill_watcher") -> None:
        """Run one heartbeat tick of child ``name`` now and wait until it is done (a Ping asked, not told)."""
        self.sup.peers[name].ask(Ping(0), timeout=30)

    def reads(self) -> int:
        """Portfolio reads the exchange has answered so far (order listings, single orders, fills)."""
        return sum(self.requests(route) for route in ("get_orders", "get_order", "get_fills"))

    def wait(self, predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
        """Re-check ``predicate`` until truthy or ``timeout`` passes (:func:`tests.waiting.wait_until`)."""
        return wait_until(predicate, timeout, what)


class FakeClock:
    """Unix seconds that move only when the test says (starts at the real time, so the exchange's timestamps
    stay comparable with the actors')."""

    def __init__(self) -> None:
        self._now = time.time()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class _Release(threading.Event):
    """The event a ``Hang`` waits on; ``entered`` is set once the actor is waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.entered.set()
        return super().wait(timeout)


class HeldActor:
    """The mailbox of a child that hangs (see :meth:`Pipeline.held`)."""

    def __init__(self, p: Pipeline, name: str, pool: ThreadPoolExecutor) -> None:
        self.p = p
        self.pool = pool
        self.handle = p.sup.peers[name]
        self.inbox = self.handle.ref.actor_inbox

    def waiting(self, n: int, what: str, *, at_least: bool = False) -> None:
        """Wait until ``n`` messages (or, ``at_least``, ``n`` or more) wait in the mailbox."""
        self.p.wait(lambda: self.inbox.qsize() >= n if at_least else self.inbox.qsize() == n, 10,
                    f"{what} ({n} in the mailbox, now {self.inbox.qsize()})")

    def order(self, body: dict[str, str]) -> Future[Any]:
        """A bot places ``body`` through the facade, in its own thread; returns once one more message waits
        (meant for the order placer's mailbox)."""
        before = self.inbox.qsize()
        fut = self.pool.submit(self.p.trading.place, body, wait_s=20)
        self.waiting(before + 1, f"order {body['client_order_id']}")
        return fut

    def tell(self, message: Any) -> None:
        """Tell ``message`` and wait until it is in the mailbox."""
        before = self.inbox.qsize()
        self.handle.tell(message)
        self.waiting(before + 1, type(message).__name__)


def build_settings(
    sim: Any, exchange: dict[str, Any] | None = None, limits: dict[str, Any] | None = None, golive: Any = None,
    guardian: dict[str, Any] | None = None, kill: dict[str, Any] | None = None, **orders: Any,
) -> Settings:
    """Settings against ``sim`` with generous limits; ``exchange`` / ``limits`` / ``guardian`` / ``kill``
    override those fields."""
    base = Settings()
    ex = ExchangeSettings(**{"base_url": sim.rest_url, "ws_url": sim.ws_url, "key_id": sim.key_id,
                             "private_key_file": Path(sim.private_key_path), "read_rate_per_s": 1000,
                             "write_rate_per_s": 1000, **(exchange or {})})
    limits = base.limits.model_copy(update={"max_orders_per_s": 1000.0, "max_open_orders": 1000,
                                            "price_collar": base.limits.price_collar.__class__("1"),
                                            **(limits or {})})
    sup = base.supervisor.model_copy(update={"heartbeat_interval_s": 0.2})
    return base.model_copy(update={"exchange": ex, "limits": limits, "supervisor": sup,
                                   "orders": base.orders.model_copy(update=orders),
                                   "golive": golive if golive is not None else base.golive,
                                   "guardian": base.guardian.model_copy(update=guardian or {}),
                                   "kill": base.kill.model_copy(update=kill or {})})


@pytest.fixture
def pipeline_factory(tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    made: list[tuple[Pipeline, Any]] = []

    def make(
        *, sim: Any = None, exchange: dict[str, Any] | None = None, limits: dict[str, Any] | None = None,
        golive: Any = None, guardian: dict[str, Any] | None = None, kill: dict[str, Any] | None = None,
        ledger_url: str | None = None, metered: bool = False, clock: Callable[[], float] | None = None,
        **orders: Any,
    ) -> Pipeline:
        """``exchange`` overrides ExchangeSettings (e.g. ``request_timeout_s``); ``orders`` OrderSettings;
        ``guardian`` / ``kill`` those sections; ``ledger_url`` reuses a ledger (a restart). ``metered``: every
        exchange call counts for the API error-rate switch, as in the daemon (off by default, so that tests
        injecting faults into reads are not stopped by it; the guardian then counts the placer's calls).
        ``clock`` (Unix seconds) is the actors' injected clock (the fill watcher's timers and polls)."""
        ctx = None
        if sim is None:
            ctx = running_simulator(seed=11)
            sim = ctx.__enter__()
        settings = build_settings(sim, exchange, limits, golive, guardian, kill, **orders)
        url = ledger_url or f"sqlite:///{tmp_path / f'ledger-{len(made)}.sqlite'}"
        ledger = Ledger.open(url)
        gate = TradingGate(persist=ledger.save_gate)
        sup = build_tree(settings, gate, ledger, key=sim.private_key, meter=CallMeter() if metered else None,
                         **({"clock": clock} if clock else {}))
        sup.start()
        gate.mark_ready()
        stop = threading.Event()
        p = Pipeline(sim, ledger, gate, sup, TradingFacade(sup.peers, ledger, lambda: settings), settings, stop,
                     url)

        def loop() -> None:
            while not stop.wait(0.05):
                with p._ticking:
                    sup.tick()

        threading.Thread(target=loop, daemon=True, name="test-supervisor-loop").start()
        made.append((p, ctx))
        return p

    yield make
    for p, ctx in made:
        p._stop.set()
        if p.sup.killswitch.last is not None:
            p.sup.killswitch.last.wait(30)
        p.sup.stop()
        p.sup.killswitch.close()
        p.ledger.close()
        if ctx is not None:
            ctx.__exit__(None, None, None)
