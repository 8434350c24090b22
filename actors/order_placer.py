"""The order placer: the single send point of every order-creating request (docs/architecture.md §5–6).

The ledger gets one write per order from the placer: the write-ahead ``INTENT``. ``SENT`` is the order's
state between the gate and the answer, held in the fill watcher's tracker; the next ledger write is the
exchange's evidence (RESTING, a booked fill, UNKNOWN, REJECTED), made by the fill watcher. A crash leaves
INTENT either way, and start-up resolution settles INTENT by ``client_order_id`` — a durable SENT would
cost a disk write per order and recover nothing more.

For each order: pre-trade checks (``actors.pretrade``) over a fresh risk view → write-ahead ``INTENT``
with its ``client_order_id`` → the gate check → send → classify → hand the order to the fill watcher
(:class:`~actors.messages.Track`), which confirms it and replies to the caller. Nothing is retried here
except a :class:`~actors.messages.Resend` the fill watcher asks for (same ``client_order_id``, gate checked
again). A read that fails while building the risk view refuses the order (fail closed).

Coalescing: orders that queued up in the mailbox while the placer was busy leave together. On a
``PlaceOrder`` the placer also takes the ``PlaceOrder`` tells waiting consecutively at the head of its
mailbox (:func:`~actors.coalesce.take_queued`; never past any other message, so a ``Halt`` or ``Resend``
is not overtaken), up to ``orders.coalesce_max`` and what the write bucket can pay for in one request, and
places them as one batch (:meth:`OrderPlacer.place_batch`): each order keeps its own pre-trade check,
write-ahead row (the rows of a batch are written in one transaction) and confirmation; the gate is checked
once, immediately before the one request. An order alone goes out as a single create.

Failures: an unexpected exception while checking an order refuses that order ``INTERNAL_ERROR`` (nothing
written or sent) and the placer stays up; one while encoding it refuses it (written, not sent); one from
the exchange client that it did not classify makes the order UNKNOWN (it may have gone out), resolved from
evidence like any ambiguous create. Anything else escaping a handler kills the actor (the supervisor
restarts it, and every order in its mailbox is lost — which is why callers wait with a timeout and every
order was written ahead). A failing ledger write before the send refuses the order; after the send it
leaves the order to the fill watcher's and the start-up resolution's evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kalshi_guard.actors.audit import order_record
from kalshi_guard.actors.base import SupervisedActor
from kalshi_guard.actors.coalesce import take_all, take_queued
from kalshi_guard.actors.confirmation import Ambiguous as AmbiguousEvent
from kalshi_guard.actors.confirmation import Rejected as RejectedEvent
from kalshi_guard.actors.confirmation import Sending, Sent
from kalshi_guard.actors.crashpoints import crash_point
from kalshi_guard.actors.end_reason import Quote
from kalshi_guard.actors.markets import MarketCache
from kalshi_guard.actors.messages import (
    Alert,
    ApiError,
    ApiSuccess,
    Halt,
    PlaceBatch,
    PlaceOrder,
    Resend,
    Resent,
    Severity,
    Track,
)
from kalshi_guard.actors.orders_api import Confirmation, OrderRequest, to_book
from kalshi_guard.actors.placer_batch import PlacerBatches, new_client_order_id
from kalshi_guard.actors.placer_risk import PlacerRiskView
from kalshi_guard.actors.pretrade import OpenState, Throttle, check, stage_check, throttle_burst
from kalshi_guard.actors.reply import Reply
from kalshi_guard.actors.send_point import send_create
from kalshi_guard.core.errors import Ambiguous, ExchangeError, GateClosedError, LedgerError, RateLimited, Rejected
from kalshi_guard.core.gate import OrderIntent
from kalshi_guard.exchange.wire import BookSide, CreateOrderRequest, TimeInForce
from kalshi_guard.ledger import OrderStatus

LEDGER_ALERT_EVERY_S = 300.0  # while the ledger refuses, its CRITICAL alert repeats at most this often


@dataclass(frozen=True, slots=True)
class _Ready:
    """An order that passed its checks: its id, request, reply, intent and write-ahead row."""

    coid: str
    req: OrderRequest
    reply: Reply[Confirmation]
    intent: OrderIntent
    row: dict[str, Any]
    quote: Quote | None = None  # the book the checks saw (the confirmation's no-fill reason names it)


class OrderPlacer(PlacerBatches, PlacerRiskView, SupervisedActor):
    """Trading actor (rest-for-one, started last)."""

    trading = True

    def setup(self) -> None:
        """Take SIGUSR1 in this thread (when the daemon's signal router is a service: the emergency stop's
        C-level handler then runs in the thread that sends orders, see ``control.signals``); open the
        placer's own client and market cache."""
        services = self.ctx.services
        signals = services.signals
        if signals is not None:
            signals.take_usr1_here()
        self.ledger = services.ledger
        factory = services.exchange_factory
        self.client = factory("order_placer") if factory is not None else None
        self.markets = MarketCache(self.client)
        settings = services.settings
        self.throttle = Throttle(throttle_burst(self._limits), self.ctx.clock()) if settings is not None else None
        self._ok_calls = 0
        self._ledger_alerted = float("-inf")
        self._init_risk()

    def teardown(self) -> None:
        """Close the client."""
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    @property
    def _limits(self) -> Any:
        return self.ctx.services.settings.limits

    @property
    def _orders_cfg(self) -> Any:
        return self.ctx.services.settings.orders

    def on_halt(self, message: Halt) -> None:
        """Drop the order work queued in the mailbox: every ``PlaceOrder`` / ``PlaceBatch`` waiting there is
        answered REJECTED ``GATE_HALTED`` without reaching the send point (nothing was written ahead for
        them). Resends and other messages stay. Orders already past this point meet the closed gate."""
        dropped: list[Any] = take_all(self.actor_inbox, (PlaceOrder, PlaceBatch))
        count = 0
        for msg in dropped:
            pairs: Any = ((msg.request, msg.reply),) if isinstance(msg, PlaceOrder) else zip(
                msg.requests, msg.replies, strict=True)
            for req, reply in pairs:
                count += 1
                reply.set(Confirmation.rejected(
                    "GATE_HALTED", f"dropped from the queue by the halt: {message.reason}",
                    client_order_id=req.client_order_id, count=req.count, latency_ms=0))
        if count:
            self.log.warning("halt: {} queued orders dropped (REJECTED GATE_HALTED)", count)

    # -- dispatch ---------------------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        """PlaceOrder (with the PlaceOrders queued behind it, see the module docstring), PlaceBatch, Resend."""
        if isinstance(message, PlaceOrder):
            queued = take_queued(self.actor_inbox, PlaceOrder, self._coalesce_room() - 1)
            if queued:
                orders = (message, *queued)
                requests: Any = tuple(m.request for m in orders)  # queued messages come back typed as object
                replies: Any = tuple(m.reply for m in orders)
                self.place_batch(requests, replies)
            else:
                self.place(message.request, message.reply, message.batch_id)  # type: ignore[arg-type]  # frozen msg
        elif isinstance(message, PlaceBatch):
            self.place_batch(message.requests, message.replies)  # type: ignore[arg-type]  # tuples of Any
        elif isinstance(message, Resend):
            self.resend(message.client_order_id, message.request)  # type: ignore[arg-type]  # an OrderRequest
        else:
            return super().handle(message)
        return None

    def _coalesce_room(self) -> int:
        """How many orders one coalesced batch may hold: ``orders.coalesce_max``, bounded by what the write
        bucket can pay for in one request (a bigger batch would be refused RATE_LIMITED as a whole)."""
        if self.client is None or "settings" not in self.ctx.services:
            return 1
        room = self.client.batch_create_room()
        cap = self._orders_cfg.coalesce_max
        return max(1, cap if room is None else min(cap, room))

    # -- checks and write-ahead -------------------------------------------------------------------

    def _check(self, req: OrderRequest, reply: Reply[Confirmation], batch_id: str | None) -> _Ready | None:
        """Pre-trade checks of one order. A passing order is counted in the cached risk view (so the next
        order's checks see it) and spends a throttle token; None after replying REJECTED.

        An unexpected exception while checking (a bug, or a lookup failing in a way no one foresaw) refuses
        this order ``INTERNAL_ERROR`` and is logged; nothing was written or sent, and the placer stays up for
        every other order (a dead placer would lose its whole mailbox and, repeated, escalate the supervisor).
        """
        try:
            return self._check_one(req, reply, batch_id)
        except Exception as exc:
            self.log.opt(exception=exc).error("pre-trade handling of an order failed; order refused: {!r}", exc)
            reply.set(Confirmation.rejected(
                "INTERNAL_ERROR", f"the order could not be checked ({type(exc).__name__}); nothing was written "
                "or sent", client_order_id=req.client_order_id, count=req.count, latency_ms=0))
            return None

    def _check_one(self, req: OrderRequest, reply: Reply[Confirmation], batch_id: str | None) -> _Ready | None:
        """:meth:`_check` without its safety net; state (risk view, throttle) changes only at the very end."""
        coid = req.client_order_id or new_client_order_id()

        def refuse(code: str, detail: str) -> None:
            order_record("REJECTED", by=self.ctx.name, client_order_id=coid, ticker=req.ticker, outcome=req.outcome,
                         action=req.action, count=req.count, price=req.price, reason=f"{code}: {detail}",
                         latency_ms=0)  # recorded before the bot hears of it
            self.log.info("order {} REJECTED: {}; {}: {}", coid, req.describe(), code, detail)
            reply.set(Confirmation.rejected(code, detail, client_order_id=coid, count=req.count, latency_ms=0))

        if self.client is None or self.ledger is None or self.throttle is None:
            refuse("NO_EXCHANGE", "this order placer runs without an exchange or ledger")
            return None
        if not self.ctx.gate.allows(OrderIntent.REDUCING):  # closed to every order (OPENING ⊂ REDUCING)
            snap = self.ctx.gate.snapshot()
            refuse(f"GATE_{snap.state.value}", snap.reason)
            return None
        now = self.ctx.clock()
        try:
            view = self._view(req.ticker)
            limits = self._effective_limits(self._limits)
            stage = self._rollout_stage(self.ctx.services.settings.golive.stages)
        except ExchangeError as exc:
            self._api_error(exc)
            refuse("EXCHANGE_UNAVAILABLE", f"market facts could not be read: {type(exc).__name__}")
            return None
        except LedgerError as exc:
            refuse("LEDGER_UNAVAILABLE", f"positions and open orders could not be read: {type(exc).__name__}")
            self._ledger_refused(exc)
            return None
        rejection = check(req, view, limits, now) or stage_check(req, view, stage)
        if rejection is not None:
            refuse(rejection.code.value, rejection.detail)
            return None
        side, yes_price = to_book(req)
        intent = self._intent(view, req.ticker, side.value, req.count)
        row = {"client_order_id": coid, "ticker": req.ticker, "event_ticker": view.markets[req.ticker].event_ticker,
               "book_side": side.value, "outcome": req.outcome.value, "action": req.action.value,
               "count": req.count, "price": yes_price, "time_in_force": req.time_in_force.value,
               "reference_price": req.reference_price, "intent": intent.value, "batch_id": batch_id}
        throttle = self.throttle.take(now, self._limits.max_orders_per_s, throttle_burst(self._limits))
        self._note_open(coid, req.ticker, side.value, yes_price, req.count, OpenState.INTENT)
        self._unwritten += 1
        self.throttle = throttle
        market = view.markets[req.ticker]
        return _Ready(coid, req, reply, intent, row, Quote(market.yes_bid, market.yes_ask))

    def _write_ahead(self, passed: list[_Ready]) -> list[_Ready]:
        """The write-ahead INTENT rows of the orders that passed their checks, in one transaction; returns the
        ones written. An order not written is refused (DUPLICATE_CLIENT_ORDER_ID, or LEDGER_UNAVAILABLE) and
        dropped from the risk view. When the transaction of several fails, each is written on its own, so
        one order's failure is its own."""
        self._unwritten = 0
        error: LedgerError | None
        try:
            records = self.ledger.insert_intents([r.row for r in passed])
        except LedgerError as exc:
            if len(passed) > 1:
                return [r for one in passed for r in self._write_ahead([one])]
            records, error = [None], exc
        else:
            error = None
        written = []
        for ready, record in zip(passed, records, strict=True):
            if record is not None:
                written.append(ready)
                continue
            row = ready.row
            self._note_open(ready.coid, row["ticker"], row["book_side"], row["price"], row["count"], None)
            code, detail = (("DUPLICATE_CLIENT_ORDER_ID", "this client_order_id was used before (ids are spent "
                             "forever)") if error is None else
                            ("LEDGER_UNAVAILABLE", f"the write-ahead record could not be written: {error}"))
            ready.reply.set(Confirmation.rejected(code, detail, client_order_id=ready.coid, count=ready.req.count,
                                                  latency_ms=0))
        if error is not None:
            self._ledger_refused(error)
        if written:
            crash_point("after_intent")
        return written

    def _ledger_refused(self, exc: LedgerError) -> None:
        """Orders are refused because the ledger cannot be read or written (a full disk, a database gone): a
        CRITICAL alert, at most every ``LEDGER_ALERT_EVERY_S`` — the gate stays open, so without it only the
        bot would know that nothing trades."""
        now = self.ctx.clock()
        if now - self._ledger_alerted < LEDGER_ALERT_EVERY_S:
            return
        self._ledger_alerted = now
        alerter = self.ctx.peers.get("alerter")
        if alerter is not None:
            alerter.tell(Alert(Severity.CRITICAL, "ledger unavailable: every order is refused", (
                ("error", str(exc)[:300]), ("what to do", "free the disk or restore the database; orders are "
                                            "accepted again as soon as the ledger writes")),
                dedup_key="ledger-unavailable"))

    def place(self, req: OrderRequest, reply: Reply[Confirmation], batch_id: str | None = None) -> None:
        """Check, write ahead, gate, send, hand over. Replies REJECTED itself when it stops early."""
        created = self.ctx.clock()
        ready = self._check(req, reply, batch_id)
        if ready is None or not self._write_ahead([ready]):
            return
        coid = ready.coid
        events = self._send_one(coid, req, ready.intent)
        self._audit_sent(coid, req, events, created)
        self.ctx.peers["fill_watcher"].tell(Track(req, coid, created, events, reply, ready.quote)) or reply.set(
            Confirmation.rejected("FILL_WATCHER_DOWN", "order sent but its confirmation cannot be tracked; "
                                  "start-up resolution will settle it", client_order_id=coid, count=req.count)
        )

    def _audit_sent(self, coid: str, req: OrderRequest, events: tuple[Any, ...], created: float) -> None:
        """The audit record of a send: SENT (the exchange took it), or what the last event says."""
        last = events[-1] if events else None
        status = "SENT" if isinstance(last, Sent) else type(last).__name__.removesuffix("Event").upper()
        reason = getattr(last, "code", None) or getattr(last, "detail", None)
        order_record(status, by=self.ctx.name, client_order_id=coid, ticker=req.ticker, outcome=req.outcome,
                     action=req.action, count=req.count, price=req.price, reason=str(reason) if reason else None,
                     latency_ms=int((self.ctx.clock() - created) * 1000))

    def resend(self, coid: str, req: OrderRequest) -> None:
        """Re-send an ambiguous create with the same id (the fill watcher found nothing on the exchange; it
        sends the order's request along). RESEND_UNAVAILABLE when the ledger has no such order."""
        record = self.ledger.get_order(coid)
        if record is None:
            refused = RejectedEvent("RESEND_UNAVAILABLE", self.ctx.clock(), "order not in the ledger")
            events: tuple[Any, ...] = (refused,)
        else:
            events = self._send_one(coid, req, OrderIntent(record.intent), resend=True)
        self.ctx.peers["fill_watcher"].tell(Resent(coid, events))

    def _send_one(self, coid: str, req: OrderRequest, intent: OrderIntent, *,
                  resend: bool = False) -> tuple[Any, ...]:
        """Through the send point (gate check, then the one HTTP request). Returns tracker events. A closed
        gate rejects a first send in the ledger; a refused ``resend`` leaves the order UNKNOWN (its first
        attempt may still have landed: the fill watcher settles it from the exchange's evidence)."""
        try:
            wire = self._wire(coid, req)
        except Exception as exc:  # nothing sent: a definitive no (to a resend: the order stays UNKNOWN)
            if resend:
                return (RejectedEvent("INTERNAL_ERROR", self.ctx.clock(), f"resend not encodable: {exc!r}"),)
            return (self._unsendable(coid, req, exc),)
        sending = Sending(self.ctx.clock())
        try:
            result = send_create(self.ctx.gate, self.client, intent, wire)
        except GateClosedError as exc:
            code = f"GATE_{exc.state}"
            if not resend:
                self.ledger.transition(coid, OrderStatus.REJECTED, reason=f"{code}: {exc.reason}")
            return (RejectedEvent(code, self.ctx.clock(), exc.reason),)
        except ExchangeError as exc:
            return (sending, self._classify_failure(coid, req, exc, resend=resend))
        except Exception as exc:  # not foreseen by the client: it may have gone out, so UNKNOWN
            self.log.opt(exception=exc).error("create of {} failed unexpectedly: {!r}", coid, exc)
            return (sending, self._classify_failure(coid, req, Ambiguous(f"unexpected {type(exc).__name__}")))
        self._api_ok()
        crash_point("after_response")
        return (sending, Sent(result.order_id, result.fill_count, result.remaining_count, self.ctx.clock()))

    def _unsendable(self, coid: str, req: OrderRequest, exc: Exception) -> Any:
        """An order whose wire body could not be built: REJECTED ``INTERNAL_ERROR`` (nothing was sent)."""
        self.log.opt(exception=exc).error("order {} could not be encoded; refused: {!r}", coid, exc)
        side, yes_price = to_book(req)
        self.ledger.transition(coid, OrderStatus.REJECTED, reason=f"INTERNAL_ERROR: {type(exc).__name__}")
        self._note_open(coid, req.ticker, side.value, yes_price, req.count, None)
        detail = f"the order could not be encoded ({type(exc).__name__})"
        return RejectedEvent("INTERNAL_ERROR", self.ctx.clock(), detail)

    def _wire(self, coid: str, req: OrderRequest) -> CreateOrderRequest:
        """The V2 create body: the bot's outcome/action mapped to the YES book."""
        side, yes_price = to_book(req)
        return CreateOrderRequest(
            req.ticker, BookSide(side.value), req.count, yes_price, client_order_id=coid,
            time_in_force=TimeInForce(req.time_in_force.wire),
            cancel_order_on_pause=self._orders_cfg.cancel_order_on_pause,
            order_group_id=self._order_group_id(),
        )

    def _order_group_id(self) -> str | None:
        """The kill switch's order group (created at start-up) when there is one, else the configured id."""
        switch = self.ctx.services.killswitch
        group = getattr(switch, "group_id", None)
        return group if group is not None else self._orders_cfg.order_group_id

    def _classify_failure(self, coid: str, req: OrderRequest, exc: ExchangeError, *, resend: bool = False) -> Any:
        """Ledger state and tracker event for a failed create (UNKNOWN unless the 'no' is definitive). A
        definitive no to a ``resend`` says nothing of the first attempt: the order stays UNKNOWN."""
        self._api_error(exc)
        now = self.ctx.clock()
        side, yes_price = to_book(req)
        if isinstance(exc, Rejected) and exc.code == "order_already_exists":
            self.ledger.transition(coid, OrderStatus.UNKNOWN, reason="409 order_already_exists")
            self._note_open(coid, req.ticker, side.value, yes_price, req.count, OpenState.UNKNOWN)
            return RejectedEvent("order_already_exists", now, str(exc))
        if isinstance(exc, Ambiguous):
            self.ledger.transition(coid, OrderStatus.UNKNOWN, reason=f"ambiguous: {exc}")
            self._note_open(coid, req.ticker, side.value, yes_price, req.count, OpenState.UNKNOWN)
            return AmbiguousEvent(str(exc), now)
        code = exc.code or ("RATE_LIMITED" if isinstance(exc, RateLimited) else type(exc).__name__.upper())
        if code == "MARKET_INACTIVE" or code == "trading_is_paused":
            self.markets.forget(req.ticker)
        if not resend:
            self.ledger.transition(coid, OrderStatus.REJECTED, reason=f"{code}: {exc}")
            self._note_open(coid, req.ticker, side.value, yes_price, req.count, None)
        return RejectedEvent(code, now, str(exc))

    # -- guardian feed ----------------------------------------------------------------------------

    def _api_ok(self) -> None:
        self._ok_calls += 1

    def _flush_api_ok(self) -> None:
        if self._ok_calls:
            self.ctx.peers["guardian"].tell(ApiSuccess("order_placer", self._ok_calls))
            self._ok_calls = 0

    def on_tick(self) -> None:
        """Report the successful calls of the last second to the guardian in one message."""
        self._flush_api_ok()

    def _api_error(self, exc: ExchangeError) -> None:
        self._flush_api_ok()  # the successes first: the error rate is judged over both
        self.ctx.peers["guardian"].tell(ApiError("order_placer", type(exc).__name__, str(exc)[:200]))

