"""Specification of reconciliation's reads: the whole account, or an exception; fills kept page by page only
when the ledger lacks them, so a pass holds a page of the overlap window, not the window."""

from __future__ import annotations

from collections.abc import Callable

from kalshi_guard.actors.reconcile_read import read_exchange
from kalshi_guard.actors.reconciler import Reconciler
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.exchange.signing import Signer
from tests.actors.reconcile_rig import T0, T1, Rig


def client(r: Rig) -> KalshiClient:
    c = KalshiClient(r.sim.rest_url, Signer(r.sim.key_id, r.sim.private_key), timeout=5, read_retries=0)
    r.clients.append(c)
    return c


class TestFills:
    def test_only_the_fills_the_ledger_lacks_are_kept_and_every_one_is_counted(
            self, rig_factory: Callable[..., Rig]) -> None:
        """Twelve fills booked and three whose messages were lost, read five to a page: all fifteen are seen
        (``fills_read``), the three are kept."""
        r = rig_factory()
        for i in range(12):
            r.daemon_trade(T0 if i % 2 else T1, "yes", "1", "0.50")
        lost = {r.daemon_trade(T1, "no", "1", "0.50", book=False) for _ in range(3)}
        view = read_exchange(client(r), None, 5, Reconciler._unbooked(r.ledger))
        assert view.fills_read == 15
        assert {f.order_id for f in view.fills} == lost
        assert view.pages >= 3, "the fills came in pages of five"

    def test_without_the_filter_every_fill_is_kept(self, rig_factory: Callable[..., Rig]) -> None:
        r = rig_factory()
        for _ in range(4):
            r.daemon_trade(T0, "yes", "1", "0.50")
        view = read_exchange(client(r), None, 3)
        assert view.fills_read == len(view.fills) == 4
