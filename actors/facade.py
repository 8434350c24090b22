"""The bot's way in, in-process: ``place_and_confirm`` and ``place_batch_and_confirm`` (docs/architecture.md §1).

Each call hands the order to the order placer and waits for its confirmation (FILLED / PARTIAL /
CANCELED / REJECTED / TIMEOUT / UNKNOWN). A malformed order raises :class:`~actors.errors.RequestInvalid`
before anything is written or sent. If no confirmation arrives within ``confirm_timeout_s`` plus a
margin (an actor died with the order in its mailbox), the answer is UNKNOWN with reason
``NO_CONFIRMATION``: never assume filled, never assume not — the start-up resolution and the reconciler
settle it from exchange evidence. Thread-safe: any number of bot threads may call it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.messages import CancelAll, CancelOrder, PlaceBatch, PlaceOrder
from kalshi_guard.actors.orders_api import ZERO, Confirmation, ConfirmationStatus, OrderRequest, parse_order_request
from kalshi_guard.actors.peers import Peers
from kalshi_guard.actors.reply import Reply
from kalshi_guard.core import observe

WAIT_MARGIN_S = 30.0


def _as_request(order: OrderRequest | Mapping[str, Any]) -> OrderRequest:
    if isinstance(order, OrderRequest):
        return order
    body = {k: (str(v) if isinstance(v, Decimal | int) and not isinstance(v, bool) else v) for k, v in order.items()}
    return parse_order_request(body)


def _no_confirmation(req: OrderRequest, waited: float) -> Confirmation:
    return Confirmation(
        status=ConfirmationStatus.UNKNOWN, order_id=None, client_order_id=req.client_order_id,
        filled_count=ZERO, remaining_count=req.count, average_price=None, fees=ZERO, slippage=None,
        latency_ms=int(waited * 1000), reason="NO_CONFIRMATION",
        detail="no confirmation arrived in time; the order's fate will be settled from exchange evidence",
    )


def _observed(conf: Confirmation) -> Confirmation:
    """Report the confirmation to the metrics (status and latency) and return it."""
    observe.emit("confirmation", status=conf.status.value, latency_ms=conf.latency_ms)
    return conf


class TradingFacade:
    """Orders in, confirmations out. ``settings`` is a callable returning the current Settings."""

    def __init__(self, peers: Peers, ledger: Any, settings: Callable[[], Any]) -> None:
        self._peers = peers
        self._ledger = ledger
        self._settings = settings

    def _wait_s(self, wait_s: float | None) -> float:
        return wait_s if wait_s is not None else self._settings().orders.confirm_timeout_s + WAIT_MARGIN_S

    def place_and_confirm(
        self,
        ticker: str,
        outcome: str,
        action: str,
        count: Decimal | str | int,
        price: Decimal | str,
        time_in_force: str = "ioc",
        *,
        reference_price: Decimal | str | None = None,
        client_order_id: str | None = None,
        wait_s: float | None = None,
    ) -> Confirmation:
        """Place one order and wait for its confirmation. Raises RequestInvalid for a malformed order."""
        body: dict[str, Any] = {"ticker": ticker, "outcome": outcome, "action": action, "count": count,
                                "price": price, "time_in_force": time_in_force}
        if reference_price is not None:
            body["reference_price"] = reference_price
        if client_order_id is not None:
            body["client_order_id"] = client_order_id
        return self.place(body, wait_s=wait_s)

    def place(self, order: OrderRequest | Mapping[str, Any], *, wait_s: float | None = None) -> Confirmation:
        """Place a parsed request (or an API-shaped mapping) and wait for its confirmation."""
        req = _as_request(order)
        if req.client_order_id is None:
            from kalshi_guard.actors.order_placer import new_client_order_id

            req = OrderRequest(req.ticker, req.outcome, req.action, req.count, req.price, req.time_in_force,
                               req.reference_price, new_client_order_id())
        reply: Reply[Confirmation] = Reply()
        wait = self._wait_s(wait_s)
        if not self._peers["order_placer"].tell(PlaceOrder(req, reply)):
            return Confirmation.rejected("ORDER_PLACER_DOWN", "the order placer is restarting; nothing was sent",
                                         client_order_id=req.client_order_id, count=req.count)
        try:
            return _observed(reply.get(wait))
        except TimeoutError:
            return _observed(_no_confirmation(req, wait))

    def place_batch_and_confirm(
        self, orders: Sequence[OrderRequest | Mapping[str, Any]], *, wait_s: float | None = None
    ) -> list[Confirmation]:
        """Place several orders in one batch request; one confirmation per order, in order.

        Every order is validated first: one malformed order raises RequestInvalid and nothing is sent.
        """
        from kalshi_guard.actors.order_placer import new_client_order_id

        reqs = []
        for order in orders:
            req = _as_request(order)
            if req.client_order_id is None:
                req = OrderRequest(req.ticker, req.outcome, req.action, req.count, req.price, req.time_in_force,
                                   req.reference_price, new_client_order_id())
            reqs.append(req)
        replies: list[Reply[Confirmation]] = [Reply() for _ in reqs]
        wait = self._wait_s(wait_s)
        if not self._peers["order_placer"].tell(PlaceBatch(tuple(reqs), tuple(replies))):
            return [Confirmation.rejected("ORDER_PLACER_DOWN", "nothing was sent", client_order_id=r.client_order_id,
                                          count=r.count) for r in reqs]
        out = []
        for req, reply in zip(reqs, replies, strict=True):
            try:
                out.append(_observed(reply.get(wait)))
            except TimeoutError:
                out.append(_observed(_no_confirmation(req, wait)))
        return out

    def cancel(self, client_order_id: str) -> bool:
        """Ask the fill watcher to cancel what remains of a tracked order (confirmed on its reply)."""
        return self._peers["fill_watcher"].tell(CancelOrder(client_order_id))

    def cancel_all(self, reason: str = "requested") -> bool:
        """Cancel every resting order (one exchange request); tracked orders confirm CANCELED with their
        fills booked. False when the fill watcher is down (the guardian's halt path still cancels all)."""
        return self._peers["fill_watcher"].tell(CancelAll(reason))

    # -- reads ------------------------------------------------------------------------------------

    def orders(self, *, status: str | None = None, limit: int = 100) -> list[Any]:
        """Recent ledger orders (``OrderRecord``), newest first, optionally one status."""
        from kalshi_guard.ledger import OrderStatus

        statuses = [OrderStatus(status)] if status else None
        return list(self._ledger.orders(statuses, limit=limit, newest_first=True))

    def order(self, client_order_id: str) -> Any:
        """One ledger order or None."""
        return self._ledger.get_order(client_order_id)

    def positions(self) -> list[Any]:
        """Open positions (``PositionRecord``)."""
        return list(self._ledger.positions(open_only=True))
