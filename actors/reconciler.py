"""The reconciler: compares the ledger with the exchange at start-up, on demand and periodically.

A pass that cannot read the exchange fails closed: ``ReconcileResult(ok=False)``, the run is recorded,
and the gate is not opened on its account.
"""

from __future__ import annotations

import time
from typing import Any

from kalshi_guard.actors.base import SupervisedActor
from kalshi_guard.actors.messages import BalanceObserved, ReconcileNow, ReconcileResult


class Reconciler(SupervisedActor):
    """Trading actor (rest-for-one with the fill watcher and the order placer)."""

    trading = True

    def setup(self) -> None:
        """Open the reconciler's own exchange client."""
        factory = self.ctx.services.exchange_factory
        self.client = factory("reconciler") if factory is not None else None
        settings = self.ctx.services.settings
        self.interval = settings.reconcile.interval_s if settings is not None else 300.0
        self.next_run = time.monotonic() + self.interval

    def teardown(self) -> None:
        """Close the client."""
        if self.client is not None:
            self.client.close()

    def handle(self, message: Any) -> Any:
        """``ReconcileNow`` (ask) returns a :class:`ReconcileResult`."""
        if isinstance(message, ReconcileNow):
            return self.reconcile(message.reason)
        return super().handle(message)

    def on_tick(self) -> None:
        """Run the periodic pass when due."""
        if time.monotonic() >= self.next_run:
            self.next_run = time.monotonic() + self.interval
            self.reconcile("periodic")

    def reconcile(self, reason: str) -> ReconcileResult:
        """Read balance and positions from the exchange and record the run. Never raises."""
        started = time.time()
        if self.client is None:
            result = ReconcileResult(False, "no exchange configured")
        else:
            try:
                balance = self.client.get_balance()
                positions = self.client.get_positions()
            except Exception as exc:
                result = ReconcileResult(False, f"exchange read failed: {type(exc).__name__}: {exc}")
            else:
                open_positions = [p for p in positions.market_positions if p.position != 0]
                guardian = self.ctx.peers.get("guardian")
                if guardian is not None:
                    guardian.tell(BalanceObserved(balance.balance))
                result = ReconcileResult(True, f"balance {balance.balance}; {len(open_positions)} open positions")
        ledger = self.ctx.services.ledger
        if ledger is not None:
            try:
                ledger.record_reconciliation(
                    started, time.time(), result.ok, {"reason": reason, "summary": result.summary}
                )
            except Exception as exc:
                self.log.error("could not record reconciliation: {!r}", exc)
        (self.log.info if result.ok else self.log.error)("reconciliation ({}): {}", reason, result.summary)
        return result
