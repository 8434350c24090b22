"""A reconciler on a real simulator and a real ledger, with a real guardian and alerter beside it.

``daemon_trade`` is a trade the ledger knows (booked as the fill watcher would book it); the simulator's own
``external_trade``/``external_close``/``settle``/``counterparty_fill`` and a second signed client on the same
key plant everything else.
"""

from __future__ import annotations

import contextlib
import queue
import re
import uuid
from decimal import Decimal
from typing import Any

from loguru import logger
from sqlalchemy import select

from kalshi_guard.actors.alerter import Alerter
from kalshi_guard.actors.base import ActorContext, HeartbeatBoard
from kalshi_guard.actors.guardian import Guardian
from kalshi_guard.actors.messages import ApiSuccess, Ping, ReconcileNow, ReconcileResult
from kalshi_guard.actors.peers import Peers
from kalshi_guard.actors.reconciler import Reconciler
from kalshi_guard.config.schema import Settings
from kalshi_guard.core.gate import TradingGate
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.exchange.signing import Signer
from kalshi_guard.ledger import Ledger
from kalshi_guard.ledger.records import FillRecord, OrderStatus
from kalshi_guard.ledger.schema import (
    ActivityRow,
    AlertRow,
    FillRow,
    OrderEventRow,
    OrderRow,
    PositionRow,
    SettlementRow,
)
from kalshi_guard.simulator.accounts import DEFAULT_ACCOUNT
from kalshi_guard.simulator.markets import DEFAULT_TICKERS

T0, T1, T2 = DEFAULT_TICKERS[0], DEFAULT_TICKERS[1], DEFAULT_TICKERS[2]
BOOK_TABLES = (OrderRow, OrderEventRow, FillRow, PositionRow, SettlementRow, ActivityRow, AlertRow)


def settings_with(reconcile: dict[str, Any] | None = None, **limits: Any) -> Settings:
    base = Settings()
    update: dict[str, Any] = {}
    if limits:
        update["limits"] = base.limits.model_copy(update=limits)
    if reconcile:
        actions = reconcile.pop("actions", None)
        rec = base.reconcile.model_copy(update=reconcile)
        if actions:
            rec = rec.model_copy(update={"actions": rec.actions.model_copy(update=actions)})
        update["reconcile"] = rec
    return base.model_copy(update=update)


class Rig:
    """alerter + guardian + reconciler as the daemon wires them (no fill watcher: the stream is "down")."""

    def __init__(self, sim: Any, ledger_url: str, settings: Settings | None = None, *, timeout: float = 2.0) -> None:
        self.sim = sim
        self.ledger = Ledger.open(ledger_url)
        self.gate = TradingGate(persist=self.ledger.save_gate)
        self.gate.mark_ready()
        base = settings or Settings()
        # no flatten on a trip: the rig has no fill watcher to book its fills (the stop still cancels orders)
        self.settings = base.model_copy(update={"kill": base.kill.model_copy(update={"flatten": False})})
        self.peers = Peers(["alerter", "guardian", "reconciler"])
        self.clients: list[KalshiClient] = []
        self.logged: list[str] = []  # the alerter logs every alert (the outbox only holds routed ones)
        self._sink = logger.add(lambda m: self.logged.append(m.record["message"]), level="INFO")

        def factory(_name: str) -> KalshiClient:
            c = KalshiClient(sim.rest_url, Signer(sim.key_id, sim.private_key), timeout=timeout, read_retries=0)
            self.clients.append(c)
            return c

        services = {"ledger": self.ledger, "settings": self.settings, "exchange_factory": factory}
        for name, cls in (("alerter", Alerter), ("guardian", Guardian), ("reconciler", Reconciler)):
            ctx = ActorContext(name, 1, self.gate, HeartbeatBoard(), queue.Queue(), self.peers, services)
            self.peers[name].ref = cls.start(ctx)

    def reconcile(self, reason: str = "test") -> ReconcileResult:
        result = self.peers["reconciler"].ask(ReconcileNow(reason), timeout=120)
        self.sync()
        return result

    def sync(self) -> None:
        """Every tell sent so far has been handled (the guardian and the alerter answer asks in order)."""
        self.peers["guardian"].ask(ApiSuccess("sync", 0), timeout=10)
        self.peers["alerter"].ask(Ping(0), timeout=10)  # a heartbeat: the alerter writes what it queued
        self.peers["guardian"].ask(ApiSuccess("sync", 0), timeout=10)
        self.peers["alerter"].ask(Ping(0), timeout=10)

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            logger.remove(self._sink)
        for name in ("reconciler", "guardian", "alerter"):
            ref = self.peers[name].ref
            if ref is not None and ref.is_alive():
                ref.stop()
        self.ledger.close()

    # -- planting -----------------------------------------------------------------------------------

    def daemon_trade(self, ticker: str, side: str, count: str, price: str, *, book: bool = True) -> str:
        """A trade the daemon made and booked: the exchange fill and the ledger order + fill agree
        (``book=False``: the order is ours but its fill message was lost)."""
        ex = self.sim.exchange
        order_id = ex.external_trade(ticker, side, count, price)
        coid = f"kg-{uuid.uuid4()}"
        book_side = "bid" if side in ("yes", "bid") else "ask"
        self.ledger.insert_intent(client_order_id=coid, ticker=ticker, event_ticker=None, book_side=book_side,
                                  outcome="yes" if book_side == "bid" else "no", action="buy", count=Decimal(count),
                                  price=Decimal(price), time_in_force="immediate_or_cancel")
        self.ledger.transition(coid, OrderStatus.SENT, order_id=order_id)
        for f in ex.account(DEFAULT_ACCOUNT).fills:
            if book and f.order_id == order_id:
                self.ledger.book_fill(FillRecord(f.fill_id, coid, order_id, ticker, f.book_side, f.count, f.yes_price,
                                                 f.fee, f.is_taker, f.ts))
        return order_id

    def alerts(self) -> list[tuple[str, dict[str, str]]]:
        """Every alert the alerter raised, as (title, fields), from its log lines."""
        out = []
        for line in list(self.logged):
            m = re.match(r"ALERT \[\w+\] (.*?)(?: (\w+=.*))?$", line)
            if m:
                pairs = re.split(r", (?=\w+=)", m.group(2) or "")
                out.append((m.group(1), dict(p.split("=", 1) for p in pairs if "=" in p)))
        return out

    def dump(self, tables: tuple[Any, ...] = BOOK_TABLES) -> str:
        """The ledger's bookkeeping tables as text (reconciliation and daemon run rows aside)."""
        out = []
        with self.ledger._read("dump") as s:
            for table in tables:
                for row in s.scalars(select(table).order_by(*table.__table__.primary_key.columns)):
                    cols = {c.name: getattr(row, c.key) for c in table.__table__.columns}
                    out.append(f"{table.__tablename__} {sorted(cols.items())!r}")
        return "\n".join(out)

    def exchange_positions(self) -> dict[str, Decimal]:
        acct = self.sim.exchange.account(DEFAULT_ACCOUNT)
        return {t: p.position for t, p in acct.positions.items() if p.position != 0}

    def ledger_positions(self) -> dict[str, Decimal]:
        return {p.ticker: p.net_count for p in self.ledger.positions(open_only=True)}
