"""The fill watcher: confirms every order from exchange evidence and books its fills exactly once.

It owns one :class:`~actors.confirmation.OrderTracker` per order in flight and is the I/O shell around
them: events come from the create outcome (``Track``), the private WebSocket channels ``fill`` and
``user_orders`` (``StreamMessage``), REST read-backs, cancels and its own timers (the heartbeat tick).
When the stream is stale or has reconnected, every tracked order is re-read over REST. Fills are booked
in the ledger (fill + order + position in one transaction; a duplicate ``trade_id`` changes nothing);
stream messages and hand-overs that wait together are handled as one group (``actors.fill_group``).
The REST calls behind each tracker action are in ``actors.tracker_io``; the bookings in
``actors.fill_booking``.

A fill whose order nobody tracks waits briefly (it may arrive before the create response); then it is
booked if the ledger knows its order (a fill after the confirmation), else reported to the guardian as an
orphan. At start-up :class:`~actors.messages.ResolveOpenOrders` settles every non-final ledger order
against the exchange before the gate opens (the caller of a pre-restart order is gone: what still rests
is cancelled, what filled is booked).

Every REST re-read of an order is a poll on the order's schedule (``actors.poll_schedule``): one pending
poll per order, backing off, paid from the upper half of the read budget. An UNKNOWN order is looked up by
``client_order_id`` on that schedule until the exchange's evidence settles it (see
``actors.confirmation_create``), which unblocks its market while the daemon runs.

Failures: an exchange read that fails is no evidence: it is polled again later, backing off; a ledger
failure while booking is logged CRITICAL and the fill stays unbooked until the next read-back re-offers it
(booking is idempotent). An exception escaping a handler kills the actor; the supervisor restarts it (and the
placer after it) and the start-up resolution path settles what was in flight.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from typing import Any

from kalshi_guard.actors import tracker_io
from kalshi_guard.actors.base import SupervisedActor
from kalshi_guard.actors.coalesce import take_queued
from kalshi_guard.actors.confirmation import (
    BookFill,
    CancelOutcome,
    CancelRequested,
    CancelResult,
    ExchangeStatus,
    Finish,
    FlagDiscrepancy,
    OrderTracker,
    OrderUpdate,
    ReadBackOrderAndFills,
    Rejected,
    RequestCancel,
    ResolveUnknown,
    RetrySend,
    StreamStale,
    TimeoutReached,
)
from kalshi_guard.actors.confirmation_create import NOT_ON_EXCHANGE
from kalshi_guard.actors.fill_booking import FillBooking
from kalshi_guard.actors.fill_group import GROUP_MAX, FillGroups
from kalshi_guard.actors.messages import (
    Alert,
    CancelAll,
    CancelOrder,
    Discrepancy,
    DiscrepancyKind,
    Halt,
    ReconcileNow,
    Resend,
    Resent,
    ResolveOpenOrders,
    Severity,
    StreamMessage,
    StreamNotice,
    Track,
)
from kalshi_guard.actors.orders_api import ConfirmationStatus
from kalshi_guard.actors.poll_schedule import PollSchedule
from kalshi_guard.actors.startup_resolution import StartupResolution
from kalshi_guard.config.schema import OrderSettings
from kalshi_guard.core.errors import ExchangeError, LedgerError
from kalshi_guard.ledger import OrderStatus
from kalshi_guard.ledger.orders import can_transition

EARLY_FILL_GRACE_S = 5.0
STREAM_FAILURES = frozenset({"disconnected", "connect_failed", "stale"})
RECENT_FINISHED = 2000  # terminal trackers kept to absorb late stream messages



class FillWatcher(FillGroups, FillBooking, StartupResolution, SupervisedActor):
    """Trading actor (rest-for-one after the reconciler)."""

    trading = True

    def setup(self) -> None:
        """Open the REST client and the private stream (waits up to 5 s for it; stale = REST polling)."""
        services = self.ctx.services
        self.ledger = services.ledger
        self.settings = services.settings
        factory = services.exchange_factory
        self.client: Any = factory("fill_watcher") if factory is not None else None
        self.trackers: dict[str, OrderTracker] = {}
        self.replies: dict[str, Any] = {}
        self.synced: dict[str, str] = {}
        self.by_order: dict[str, str] = {}
        self.finished: OrderedDict[str, str] = OrderedDict()  # order_id -> coid of terminal trackers
        self.early: dict[str, list[tuple[float, Any]]] = {}  # order_id -> (arrived, event) not yet tracked
        self.clock = self.ctx.clock  # the injected wall clock (Unix seconds): timers and polls
        cfg = self.settings.orders if self.settings is not None else OrderSettings()
        self.polls = PollSchedule(cfg.poll_interval_s, cfg.unknown_poll_max_s)  # one pending poll per order
        self.last_poll = float("-inf")
        self.stream: Any = None
        factory = services.stream_factory
        if factory is not None and self.client is not None:
            ref = self.actor_ref

            def on_message(msg: Any) -> None:
                with contextlib.suppress(Exception):
                    ref.tell(StreamMessage(msg))

            meter = services.meter

            def on_event(event: Any) -> None:
                if meter is not None:  # a stream failure is a failed exchange call (API error-rate switch)
                    if str(event) in STREAM_FAILURES:
                        meter.failed("stream")
                    elif str(event) in ("connected", "reconnected"):
                        meter.ok("stream")
                with contextlib.suppress(Exception):
                    ref.tell(StreamNotice(str(event)))

            self.stream = factory(on_message, on_event)
            self.stream.subscribe(["fill", "user_orders"])
            self.stream.start()
            self.stream.wait_connected(5.0)

    def teardown(self) -> None:
        """Stop the stream and close the client."""
        if getattr(self, "stream", None) is not None:
            self.stream.stop(timeout=2.0)
        if getattr(self, "client", None) is not None:
            self.client.close()

    def on_halt(self, message: Halt) -> None:
        """Keep confirming what is in flight: fills must still be booked after a halt."""

    # -- dispatch ---------------------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        """Track, Resent, CancelOrder, stream traffic; ResolveOpenOrders (ask) returns a summary."""
        if isinstance(message, Track | StreamMessage):
            queued: list[Any] = take_queued(self.actor_inbox, (Track, StreamMessage), GROUP_MAX - 1)
            if queued:
                self._handle_group([message, *queued])
            elif isinstance(message, Track):
                self._track(message)
            else:
                self._on_stream(message.message)
        elif isinstance(message, Resent):
            for event in message.events:
                self._feed(message.client_order_id, event)
        elif isinstance(message, CancelAll):
            self.cancel_all(message.reason)
        elif isinstance(message, CancelOrder):
            if message.client_order_id in self.trackers:
                self._feed(message.client_order_id, CancelRequested(self.clock()))
        elif isinstance(message, StreamNotice):
            if message.event in ("reconnected", "gap", "stale"):
                self.log.warning("stream {}: re-reading {} tracked orders over REST", message.event,
                                 len(self.trackers))
                self._poll_all()
            if message.event in ("reconnected", "gap"):  # messages may be lost: a full reconciliation
                reconciler = self.ctx.peers.get("reconciler")
                if reconciler is not None:
                    reconciler.tell(ReconcileNow(f"stream {message.event}"))
        elif isinstance(message, ResolveOpenOrders):
            return self.resolve_open_orders(message.reason)
        else:
            return super().handle(message)
        return None

    def _track(self, msg: Track) -> None:
        cfg = self.settings.orders
        tracker = OrderTracker(msg.request, msg.client_order_id, cfg.fill_threshold, msg.created_ts,  # type: ignore[arg-type]  # Track carries request/quote as object
                               settle_s=cfg.unknown_settle_s, quote=msg.quote)  # type: ignore[arg-type]  # Track carries request/quote as object
        coid = msg.client_order_id
        self.trackers[coid] = tracker
        self.replies[coid] = msg.reply
        self.synced[coid] = "SENT"
        for event in msg.events:
            self._feed(coid, event)

    def cancel_all(self, reason: str) -> None:
        """One exchange-wide cancel-all, then every tracked order asks for its own cancel (a 404 for the
        ones already gone makes the tracker read back and book what filled). Failures are logged; the
        per-order cancels still go out."""
        self.log.warning("cancel all: {}", reason)
        if self.client is not None:
            try:
                self.client.cancel_all_orders()
            except ExchangeError as exc:
                self.log.error("cancel-all request failed ({}); cancelling order by order", type(exc).__name__)
        for coid in list(self.trackers):
            self._feed(coid, CancelRequested(self.clock()))

    # -- stream -----------------------------------------------------------------------------------

    def _on_stream(self, msg: Any) -> None:
        kind = type(msg).__name__
        if kind == "StreamFill":
            event: Any = tracker_io.fill_event(msg)
        elif kind == "UserOrder":
            event = OrderUpdate(ExchangeStatus(msg.status.value), msg.fill_count, msg.remaining_count,
                                msg.ts_ms / 1000 if msg.ts_ms else self.clock(), msg.order_id)
        else:
            return
        coid = self._coid_for(msg.order_id, getattr(msg, "client_order_id", None))
        if coid is None:
            self.early.setdefault(msg.order_id, []).append((time.monotonic(), msg))
            return
        if coid in self.trackers:
            self._feed(coid, event)
        elif kind == "StreamFill":
            self._flush_group(restart=True)  # in a group: book what came before it first
            self._book_untracked(msg)

    def _coid_for(self, order_id: str, coid: str | None) -> str | None:
        """The tracked (or recently finished) order this message belongs to; None = not (yet) known.

        No database read here (this is the hot path): a message for an order nobody tracks — usually one
        the placer is still sending — waits in the early buffer until its tracker exists; after
        ``EARLY_FILL_GRACE_S`` the ledger is asked (``_book_untracked``), and a fill of an order it does not
        know either is an orphan.
        """
        if coid and coid in self.trackers:
            return coid
        return self.by_order.get(order_id) or self.finished.get(order_id)

    def _replay_early(self, order_id: str) -> None:
        for _, msg in self.early.pop(order_id, []):
            self._on_stream(msg)

    # -- the tracker shell ------------------------------------------------------------------------

    def _feed(self, coid: str, event: Any) -> None:
        tracker = self.trackers.get(coid)
        if tracker is None:
            return
        actions = tracker.handle(event)
        learned = tracker.order_id if tracker.order_id and tracker.order_id not in self.by_order else None
        if learned:
            self.by_order[learned] = coid
        for action in actions:
            self._perform(coid, action, tracker=tracker)
        if not self._sync_later(coid, tracker):
            self._sync(coid, tracker)
        if learned:
            # Only now: replaying early messages feeds this tracker again, which must not finish (and drop)
            # it while this event's actions (bookings, the reply) are still to be performed.
            self._replay_early(learned)

    def _sync(self, coid: str, tracker: OrderTracker) -> None:
        state = tracker.order_state.value
        if tracker.state.value in ("AWAITING_FILLS", "READING_BACK") and tracker.end is not None:
            state = self.synced.get(coid, state)  # dead on the exchange: the next write is the final one
        current = self.synced.get(coid)
        if current is not None and not can_transition(OrderStatus(current), OrderStatus(state)):
            return  # the ledger is already further on (booking a fill advances it by itself)
        if state not in ("INTENT", "SENT") and current != state:
            try:
                reason = tracker.reject_code
                if tracker.terminal and tracker.state.value == "CANCELED":  # why it ended short, for the ledger
                    reason = tracker.why(ConfirmationStatus.CANCELED)[0]
                self.ledger.transition(coid, OrderStatus(state), order_id=tracker.order_id, reason=reason)
                self.synced[coid] = state
            except LedgerError as exc:
                self.log.error("ledger transition of {} to {} refused: {}", coid, state, exc)
                self.synced[coid] = state
        if tracker.terminal and tracker.replied:
            self.trackers.pop(coid, None)
            self.replies.pop(coid, None)
            self.synced.pop(coid, None)
            self.polls.drop(coid)
            if tracker.order_id:
                self.by_order.pop(tracker.order_id, None)
                self.finished[tracker.order_id] = coid
                while len(self.finished) > RECENT_FINISHED:
                    self.finished.popitem(last=False)

    def _perform(self, coid: str, action: Any, *, deferred: bool = False, tracker: OrderTracker | None = None) -> None:
        tracker = tracker or self.trackers.get(coid)
        if self._hold(coid, tracker, action):
            return
        if isinstance(action, BookFill):
            self._book(coid, tracker, action)
        elif isinstance(action, Finish):
            self._audit(coid, tracker, action.confirmation)  # recorded before the bot hears of it
            reply = self.replies.get(coid)
            if reply is not None:
                reply.set(action.confirmation)
            conf = action.confirmation.to_json()  # as the bot sees it: prices of its outcome
            warn = conf["status"] in ("TIMEOUT", "UNKNOWN") or conf.get("reason") == NOT_ON_EXCHANGE
            self.log.log("WARNING" if warn else "INFO", "order {} {}: {} → filled {}, unfilled {}, average {}{}",
                         coid, conf["status"], tracker.request.describe() if tracker else "?",
                         conf["filled_count"], conf["unfilled_count"], conf["average_price"] or "-",
                         f"; {conf['reason']}: {conf.get('detail')}" if conf.get("reason") else "")
        elif isinstance(action, RetrySend):
            if tracker is None:
                self._feed(coid, Rejected("RESEND_UNAVAILABLE", self.clock(), "the order is not tracked"))
            elif not self.ctx.peers["order_placer"].tell(Resend(action.client_order_id, tracker.request)):
                self._feed(coid, Rejected("RESEND_UNAVAILABLE", self.clock(), "the order placer is down"))
        elif isinstance(action, FlagDiscrepancy):
            self.log.critical("order {}: {}", coid, action.detail)
            self.ctx.peers["alerter"].tell(Alert(Severity.CRITICAL, "order discrepancy", (("order", coid),
                                                                                          ("detail", action.detail))))
            ticker = tracker.request.ticker if tracker else "?"
            self.ctx.peers["guardian"].tell(Discrepancy(DiscrepancyKind.MISMATCH, ticker, action.detail))
        elif isinstance(action, RequestCancel | ReadBackOrderAndFills | ResolveUnknown):
            if not deferred and getattr(action, "attempt", 1) > 1:
                self.polls.add(coid, action, self.clock(), backoff=isinstance(action, ResolveUnknown))
                return
            try:
                event = tracker_io.perform(self.client, action, clock=self.clock, is_ours=self._is_ours)
            except ExchangeError as exc:
                self.log.warning("order {}: {} failed ({}); retrying later", coid, type(action).__name__,
                                 type(exc).__name__)
                if isinstance(action, RequestCancel):
                    self._feed(coid, CancelResult(CancelOutcome.AMBIGUOUS, self.clock()))
                else:  # no evidence either way: the order stays as it is and is polled again, backing off
                    self.polls.add(coid, action, self.clock(), backoff=True)
                return
            self._feed(coid, event)

    # -- timers -----------------------------------------------------------------------------------

    def on_tick(self) -> None:
        """Timeouts, due polls (``actors.poll_schedule``), REST polling while the stream is stale, early
        fills that aged."""
        if self.client is None:
            return
        now, mono = self.clock(), time.monotonic()
        timeout = self.settings.orders.confirm_timeout_s
        grace = self.settings.orders.poll_interval_s
        for coid, tracker in list(self.trackers.items()):
            if now - tracker.created_ts >= timeout and (not tracker.timed_out or not tracker.terminal):
                self._feed(coid, TimeoutReached(now))
            elif tracker.state.value == "AWAITING_FILLS" and now - tracker.created_ts >= grace:
                # dead on the exchange with fills the stream has not brought (a message lost, or the order
                # filled before our subscription was live): read them over REST rather than wait
                self._feed(coid, StreamStale(now))
        for coid, action in self.polls.take_due(now, PollSchedule.room(self._read_budget())):
            if coid in self.trackers:
                self._perform(coid, action, deferred=True)
        stale = self.stream is None or self.stream.is_stale()
        if stale and self.trackers and now - self.last_poll >= self.settings.orders.poll_interval_s:
            self.last_poll = now
            self._poll_all()
        for order_id, items in list(self.early.items()):
            if items and mono - items[0][0] > EARLY_FILL_GRACE_S:
                del self.early[order_id]
                for _, msg in items:
                    if type(msg).__name__ == "StreamFill" and not self._book_untracked(msg):
                        self._orphan(msg)

    def _read_budget(self) -> tuple[float, float] | None:
        budget = getattr(self.client, "read_budget", None)
        return budget() if budget is not None else None

    def _is_ours(self, order_id: str | None) -> bool:
        """Whether an exchange order id belongs to an order we know (tracked, recent, or in the ledger). A
        ledger failure says no: the fill then keeps an UNKNOWN order UNKNOWN (fail closed)."""
        if order_id is None:
            return False
        if order_id in self.by_order or order_id in self.finished:
            return True
        try:
            return self.ledger.get_order_by_exchange_id(order_id) is not None
        except LedgerError:
            return False

    def _poll_all(self) -> None:
        for coid in list(self.trackers):
            self._feed(coid, StreamStale(self.clock()))
