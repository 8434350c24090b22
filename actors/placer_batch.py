"""The order placer's batches: one batch request for the orders that pass their checks, each order answered
on its own (used by :class:`~kalshi_guard.actors.order_placer.OrderPlacer` for a ``PlaceBatch`` and for
coalesced ``PlaceOrder``s).

Failures: a closed gate at the send point refuses every order of the batch (nothing sent); a failed or
ambiguous request classifies each order on its own (REJECTED on a definitive no, else UNKNOWN and resolved
from the exchange's evidence); an order that cannot be encoded is REJECTED and nothing is sent.
"""

from __future__ import annotations

import uuid
from typing import Any

from kalshi_guard.actors.confirmation import Rejected as RejectedEvent
from kalshi_guard.actors.confirmation import Sending, Sent
from kalshi_guard.actors.crashpoints import crash_point
from kalshi_guard.actors.messages import Track
from kalshi_guard.actors.orders_api import Confirmation, OrderRequest
from kalshi_guard.actors.reply import Reply
from kalshi_guard.actors.send_point import send_batch
from kalshi_guard.core.errors import Ambiguous, ExchangeError, GateClosedError
from kalshi_guard.core.gate import OrderIntent
from kalshi_guard.ledger import OrderStatus


def new_client_order_id() -> str:
    """A fresh client order id (UUID4): spent forever once sent (Kalshi: 409 order_already_exists)."""
    return str(uuid.uuid4())


class PlacerBatches:
    """Mixin of the order placer (its checks, write-ahead, wire encoding and failure classification)."""

    ctx: Any
    client: Any
    ledger: Any
    log: Any
    _check: Any
    _write_ahead: Any
    _audit_sent: Any
    _wire: Any
    _unsendable: Any
    _classify_failure: Any
    _api_ok: Any

    def place_batch(self, requests: tuple[OrderRequest, ...], replies: tuple[Reply[Confirmation], ...]) -> None:
        """One batch request for the orders that pass their checks; each gets its own confirmation.

        Used for a ``PlaceBatch`` and for coalesced ``PlaceOrder``s alike: the orders share one ``batch_id``
        in the ledger (a ``PlaceOrder``'s own ``batch_id`` gives way to it). An order refused before the
        send is answered at once and the others go on. A closed gate at the send point refuses every order
        (REJECTED ``GATE_<state>``, nothing sent); a failed or ambiguous request classifies each order on
        its own (REJECTED when the exchange's no is definitive, else UNKNOWN and resolved from evidence).
        """
        created = self.ctx.clock()
        batch_id = new_client_order_id()
        passed = [r for req, reply in zip(requests, replies, strict=True) if (r := self._check(req, reply, batch_id))]
        written = self._write_ahead(passed) if passed else []
        if not written:
            return
        outcome = self._send_batch(written)
        for r, events in zip(written, outcome, strict=True):
            self._audit_sent(r.coid, r.req, events, created)
            if not self.ctx.peers["fill_watcher"].tell(Track(r.req, r.coid, created, events, r.reply, r.quote)):
                r.reply.set(Confirmation.rejected("FILL_WATCHER_DOWN", "sent but not tracked", client_order_id=r.coid,
                                                  count=r.req.count))

    def _send_batch(self, ready: list[Any]) -> list[tuple[Any, ...]]:
        """The send point of a batch: one gate check, then the one request. Returns each order's tracker
        events (a closed gate refuses them all, nothing sent; a failed request is classified order by order)."""
        intent = OrderIntent.OPENING if any(r.intent is OrderIntent.OPENING for r in ready) else OrderIntent.REDUCING
        try:
            wires = [self._wire(r.coid, r.req) for r in ready]
        except Exception as exc:  # nothing sent
            return [(self._unsendable(r.coid, r.req, exc),) for r in ready]
        sending = Sending(self.ctx.clock())
        try:
            items = send_batch(self.ctx.gate, self.client, intent, wires)
        except GateClosedError as exc:
            out: list[tuple[Any, ...]] = []
            for r in ready:
                self.ledger.transition(r.coid, OrderStatus.REJECTED, reason=f"GATE_{exc.state}: {exc.reason}")
                out.append((RejectedEvent(f"GATE_{exc.state}", self.ctx.clock(), exc.reason),))
            return out
        except ExchangeError as exc:
            return [(sending, self._classify_failure(r.coid, r.req, exc)) for r in ready]
        except Exception as exc:  # not foreseen by the client: it may have gone out, so UNKNOWN
            self.log.opt(exception=exc).error("batch create failed unexpectedly: {!r}", exc)
            return [(sending, self._classify_failure(r.coid, r.req, Ambiguous(f"unexpected {type(exc).__name__}")))
                    for r in ready]
        self._api_ok()
        by_coid = {item.client_order_id: item for item in items}
        out = []
        for n, r in enumerate(ready):
            if n == 1:
                crash_point("mid_batch")
            coid, req = r.coid, r.req
            item = by_coid.get(coid)
            if item is None:
                out.append((sending, self._classify_failure(coid, req, Ambiguous("batch answer lacks this order"))))
            elif item.error is not None or item.result is None:
                out.append((sending, self._classify_failure(coid, req, item.error or Ambiguous("no result"))))
            else:
                res = item.result
                out.append((sending, Sent(res.order_id, res.fill_count, res.remaining_count, self.ctx.clock())))
        return out

