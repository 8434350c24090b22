"""The reconciler: the ledger and the exchange agree, or trading stops.

A pass (at start-up before the gate opens, every ``reconcile.interval_s``, after a stream reconnect, after
every kill-switch stop, before every reset, and on demand) reads the whole account from the exchange
(:mod:`actors.reconcile_read`), classifies every difference with its evidence
(:mod:`actors.reconcile_model`), books the evidence (adopted orphan orders, missing fills by ``trade_id``,
settlements by key), checks the cash, records one run row holding the JSON report, and acts: an alert for
every finding, and per ``reconcile.actions`` a trip of the guardian's switch (``Discrepancy``), the gate
to REDUCING, or the alert alone. A finding that the positions still disagree counts only when a quiet read
of its market confirms it (:mod:`actors.reconcile_confirm`: a fill racing the reads is not a mismatch).

Fail closed: a failed, timed-out or partial read is "no information": nothing in the ledger changes, the
run is recorded failed, a CRITICAL alert is raised and ``ReconcileResult(ok=False)`` says why (the daemon
keeps the gate NOT_READY at start-up and refuses a reset). A pass never raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from kalshi_guard.actors.base import SupervisedActor
from kalshi_guard.actors.messages import (
    Alert,
    BalanceObserved,
    Discrepancy,
    DiscrepancyKind,
    FillBooked,
    Halt,
    LastReconcile,
    ReconcileNow,
    ReconcileResult,
    Severity,
)
from kalshi_guard.actors.reconcile_confirm import UNJUDGED_PASSES, cash_look, confirm, unjudged_finding
from kalshi_guard.actors.reconcile_model import (
    ExchangeView,
    Finding,
    Kind,
    LedgerView,
    Plan,
    cash_check,
    compare,
    settlement_key,
)
from kalshi_guard.actors.reconcile_read import find_order, read_exchange
from kalshi_guard.core.memory import release_free_memory
from kalshi_guard.exchange.history import fill_time, parse_time
from kalshi_guard.exchange.rest import CLOCK_SKEW_S
from kalshi_guard.exchange.wire import Fill
from kalshi_guard.ledger.reconcile import KnownOrder

ALERTS_PER_KIND = 20  # individual alerts (and guardian messages) per kind and pass; the rest are summed up
_TITLES = {Kind.ORPHAN_ORDER: "ORPHANED ORDER DETECTED", Kind.ORPHAN_FILL: "ORPHANED FILL DETECTED",
           Kind.GHOST_POSITION: "ghost position corrected", Kind.MISMATCH: "POSITION MISMATCH",
           Kind.SETTLEMENT: "settlement booked", Kind.CASH: "cash discrepancy"}
_MESSAGE_KIND = {Kind.ORPHAN_ORDER: DiscrepancyKind.ORPHAN, Kind.ORPHAN_FILL: DiscrepancyKind.ORPHAN,
                 Kind.GHOST_POSITION: DiscrepancyKind.GHOST}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


class Reconciler(SupervisedActor):
    """Trading actor (rest-for-one with the fill watcher and the order placer)."""

    trading = True

    def setup(self) -> None:
        """Open the reconciler's own exchange client."""
        factory = self.ctx.services.exchange_factory
        self.client: Any = factory("reconciler") if factory is not None else None
        self.next_run = time.monotonic() + self._cfg.interval_s
        self.due: str | None = None
        self.last_report: Any = None
        self.unjudged: dict[str, int] = {}  # market -> consecutive passes its mismatch stayed unjudged

    @property
    def _cfg(self) -> Any:
        from kalshi_guard.config.schema import ReconcileSettings

        settings = self.ctx.services.settings
        return settings.reconcile if settings is not None else ReconcileSettings()

    def teardown(self) -> None:
        """Close the client."""
        if self.client is not None:
            self.client.close()

    def handle(self, message: Any) -> Any:
        """``ReconcileNow`` (ask or tell) runs a pass and returns its :class:`ReconcileResult`;
        ``LastReconcile`` returns the last report (or None)."""
        if isinstance(message, ReconcileNow):
            return self.reconcile(message.reason)
        if isinstance(message, LastReconcile):
            return self.last_report
        return super().handle(message)

    def on_halt(self, message: Halt) -> None:
        """After every kill-switch stop: a pass at the next tick (the stop itself is not delayed)."""
        self.due = f"after kill-switch stop: {message.reason}"

    def on_tick(self) -> None:
        """Run the periodic pass when due, or the one a stop asked for."""
        if self.due is not None or time.monotonic() >= self.next_run:
            reason, self.due = self.due or "periodic", None
            self.next_run = time.monotonic() + self._cfg.interval_s
            self.reconcile(reason)

    # -- one pass ---------------------------------------------------------------------------------

    def reconcile(self, reason: str) -> ReconcileResult:
        """One full pass (see the module doc), then the heap's free pages go back to the system (a pass
        parses every page of fills in its overlap window). Never raises."""
        try:
            return self._pass(reason)
        finally:
            release_free_memory()

    def _pass(self, reason: str) -> ReconcileResult:
        started, t0 = self.ctx.clock(), time.perf_counter()
        cfg = self._cfg
        ledger = self.ctx.services.ledger
        report: dict[str, Any] = {"ok": False, "reason": reason, "started_at": _iso(started), "duration_ms": 0,
                                  "pages": 0, "discrepancies": [], "counts": {}, "error": None}
        try:
            if self.client is None or ledger is None:
                raise RuntimeError("no exchange or no ledger configured")
            last = ledger.last_complete_reconciliation()
            summary = last.summary if last is not None else {}
            mark = summary.get("watermark")
            since = float(mark) - cfg.fills_overlap_s if mark is not None else None
            view, plan, pages = self._read_and_compare(ledger, since, cfg)
        except Exception as exc:
            return self._failed(report, t0, started, f"exchange read failed: {type(exc).__name__}: {exc}")
        try:
            self._book(ledger, plan)
        except Exception as exc:
            return self._failed(report, t0, started, f"booking failed: {type(exc).__name__}: {exc}")
        try:  # on a quiet look of its own; not while the fill watcher has fills of ours to book
            first = self.client.pages_read
            disagree = any(f.kind is Kind.MISMATCH for f in plan.findings)  # then no look is consistent
            cash_now = None if plan.deferred or disagree else cash_look(self.client, ledger, cfg.page_limit)
            pages += self.client.pages_read - first
        except Exception as exc:
            return self._failed(report, t0, started, f"cash read failed (the evidence above was booked): "
                                                      f"{type(exc).__name__}: {exc}")
        cash = None
        if cash_now is not None:
            cash = cash_check(summary.get("cash_ref"), cash_now, cfg.cash_tolerance, cfg.actions.cash)
        report["cash"] = ("deferred" if plan.deferred else "skipped" if disagree else
                          "checked" if cash_now is not None else "unjudged")
        findings = plan.findings + ((cash,) if cash is not None else ())
        report.update(ok=True, pages=pages, discrepancies=[f.to_json() for f in findings],
                      counts={"positions": len(view.positions), "resting_orders": len(view.resting),
                              "fills": view.fills_read, "settlements": len(view.settlements),
                              "booked_fills": len(plan.fills), "adopted_orders": len(plan.adopt),
                              "booked_settlements": len(plan.settlements)},
                      balance=str(view.balance.balance), duration_ms=round((time.perf_counter() - t0) * 1000, 1))
        unresolved = [f for f in findings if not f.resolved]
        text = (f"{len(findings)} discrepancies ({len(unresolved)} unresolved), {len(view.positions)} positions, "
                f"{len(view.resting)} resting orders, {view.fills_read} fills read in {pages} pages")
        if plan.unjudged:
            text += f"; unjudged (traded through every read): {', '.join(plan.unjudged)}"
        report["unjudged"] = list(plan.unjudged)
        report["summary"] = text
        if report["cash"] == "unjudged":
            self.log.warning("reconciliation: cash not checked, every look saw trading (the next pass checks it)")
        cash_ref = summary.get("cash_ref") if cash_now is None else {k: str(v) for k, v in cash_now.items()}
        report["clean"] = not unresolved
        # the run row's ok is "clean" (what preflight and rollout read); the watermark marks a complete read
        self._record(ledger, started, not unresolved, {"report": report, "watermark": started, "cash_ref": cash_ref})
        self._act(findings)
        guardian = self.ctx.peers.get("guardian")
        if guardian is not None:
            pv = view.balance.portfolio_value
            guardian.tell(BalanceObserved(view.balance.balance, pv if pv is not None else Decimal(0)))
        (self.log.warning if unresolved else self.log.info)("reconciliation ({}): {}", reason, text)
        self.last_report = MappingProxyType(report)
        discrepancies = tuple(Discrepancy(_MESSAGE_KIND.get(f.kind, DiscrepancyKind.MISMATCH), f.ticker,
                                          f"{f.kind.value}: {f.evidence}") for f in unresolved)
        return ReconcileResult(True, text, discrepancies, self.last_report)

    def _beat(self) -> None:
        """A long pass (a big account) keeps the supervisor's heartbeat fresh between its steps."""
        self.ctx.board.beat(self.ctx.name, self.ctx.epoch)

    def _read_and_compare(self, ledger: Any, since: float | None, cfg: Any) -> tuple[ExchangeView, Plan, int]:
        view = read_exchange(self.client, since, cfg.page_limit, self._unbooked(ledger))
        self._beat()
        plan = compare(view, self._ledger_view(ledger, view), cfg.actions)
        self._beat()
        pages = view.pages
        before = self.client.pages_read
        plan = self._second_look(ledger, view, plan, since, cfg)
        self._lookups = 0
        plan = replace(plan, findings=tuple(self._with_order(f, cfg.page_limit) for f in plan.findings))
        self._ended = self._adopted_ends(ledger, view, cfg.page_limit)
        return view, plan, pages + self.client.pages_read - before

    def _second_look(self, ledger: Any, view: ExchangeView, plan: Plan, since: float | None, cfg: Any) -> Plan:
        """Each market with a position mismatch is read again on its own (:mod:`actors.reconcile_confirm`):
        a quiet read confirms or clears it; one that traded through every read is unjudged this pass, and
        its mismatch counts after ``UNJUDGED_PASSES`` such passes in a row."""
        suspects = sorted({f.ticker for f in plan.findings if f.kind is Kind.MISMATCH})[:ALERTS_PER_KIND]
        self.unjudged = {t: n for t, n in self.unjudged.items() if t in suspects}
        if not suspects:
            return plan
        verdicts = {t: confirm(self.client, ledger, view, t, since, cfg.page_limit, cfg.actions, self._beat,
                               self._unbooked(ledger)) for t in suspects}
        findings: list[Finding] = []
        left: list[str] = []
        for f in plan.findings:
            v = verdicts.get(f.ticker) if f.kind is Kind.MISMATCH else None
            if v is None:
                findings.append(f)
                continue
            del verdicts[f.ticker]  # one verdict per market, in the place of its first finding
            if v.judged:
                self.unjudged.pop(v.ticker, None)
                findings.extend(v.findings)
                continue
            n = self.unjudged[v.ticker] = self.unjudged.get(v.ticker, 0) + 1
            if n >= UNJUDGED_PASSES:
                findings.append(unjudged_finding(v, n, cfg.actions.mismatch))
            else:
                left.append(v.ticker)
                self.log.warning("reconciliation: {} disagreed on every read and traded through each one "
                                 "(ledger {}, exchange {}); unjudged {} of {} passes", v.ticker, v.ledger,
                                 v.exchange, n, UNJUDGED_PASSES)
        return replace(plan, findings=tuple(findings), unjudged=tuple(left))

    @staticmethod
    def _unbooked(ledger: Any) -> Callable[[list[Fill]], list[Fill]]:
        """The fills of a page the ledger lacks (one query a page): a pass keeps only those."""
        def keep(page: list[Fill]) -> list[Fill]:
            booked = ledger.booked_trade_ids(f.trade_id for f in page)
            return [f for f in page if f.trade_id not in booked]

        return keep

    def _adopted_ends(self, ledger: Any, view: ExchangeView, limit: int) -> list[tuple[str, Any]]:
        """Adopted orders no longer resting: their final state on the exchange (live or archived)."""
        resting = {o.order_id for o in view.resting}
        ends = []
        for coid, order_id, ticker in ledger.open_adopted_orders():
            if order_id not in resting:
                order = find_order(self.client, order_id, ticker, limit)
                if order is not None and str(order.status) in ("canceled", "executed"):
                    ends.append((coid, order))
        return ends

    def _with_order(self, f: Finding, limit: int) -> Finding:
        """An orphan fill on an unknown order: add the exchange's order (live or archived) to the evidence."""
        if f.kind is not Kind.ORPHAN_FILL or f.resolved:
            return f
        order_id = dict(f.fields).get("order_id")
        if not order_id or self._lookups >= ALERTS_PER_KIND:
            return f
        self._lookups += 1
        order = find_order(self.client, order_id, f.ticker, limit)
        seen = ("the exchange has no record of the order" if order is None else
                f"order {order.order_id} client_order_id {order.client_order_id!r} {order.status} "
                f"{order.book_side} {order.initial_count} @ {order.yes_price}")
        return replace(f, evidence=f"{f.evidence}; {seen}")

    def _ledger_view(self, ledger: Any, view: ExchangeView, limit: int = 1000) -> LedgerView:
        """What the ledger knows of the ids in ``view``. Our orders whose exchange id the ledger never learnt
        (a crash between send and answer) are matched by ``client_order_id`` on the exchange's order listing
        for their markets: their fills are ours, left to the fill watcher's resolution of open orders, and
        count in the positions meanwhile (``self.coids``)."""
        positions = {p.ticker: p.net_count for p in ledger.positions(open_only=True)}
        booked = ledger.booked_trade_ids(f.trade_id for f in view.fills)
        known = dict(ledger.known_orders([o.order_id for o in view.resting] + [f.order_id for f in view.fills],
                                         [o.client_order_id for o in view.resting if o.client_order_id]))
        self.coids: dict[str, str] = {}
        pending = {o.client_order_id: o for o in ledger.non_final_orders() if o.order_id is None}
        unknown = {f.ticker for f in view.fills if f.order_id not in known}
        for ticker in sorted({o.ticker for o in pending.values()} & unknown):
            first = min(o.created_at for o in pending.values() if o.ticker == ticker)
            for o in self.client.list_orders(ticker=ticker, min_ts=int(first) - CLOCK_SKEW_S, limit=limit,
                                             strict=True):
                mine = pending.get(o.client_order_id) if o.client_order_id else None
                if mine is not None:
                    known[o.order_id] = KnownOrder(mine.client_order_id, o.order_id, False, mine.status)
                    self.coids[o.order_id] = mine.client_order_id
        settled = ledger.booked_settlements(settlement_key(s) for s in view.settlements)
        return LedgerView(positions, frozenset(booked), known, frozenset(settled), frozenset(self.coids))

    def _book(self, ledger: Any, plan: Plan) -> None:
        """Adopt orphan orders, book missing fills, then settlements (each idempotent on its key)."""
        from kalshi_guard.ledger.records import FillRecord, OrderStatus

        for o in plan.adopt:
            ledger.adopt_order(order_id=o.order_id, client_order_id=o.client_order_id, ticker=o.ticker,
                               book_side=str(o.book_side), price=o.yes_price, count=o.initial_count,
                               filled=o.fill_count, remaining=o.remaining_count,
                               detail={"order_id": o.order_id, "client_order_id": o.client_order_id,
                                       "ticker": o.ticker, "side": str(o.book_side),
                                       "remaining": str(o.remaining_count), "price": str(o.yes_price)})
        guardian = self.ctx.peers.get("guardian")
        now = self.ctx.clock()
        for coid, order in getattr(self, "_ended", ()):
            final = OrderStatus.FILLED if str(order.status) == "executed" else OrderStatus.CANCELED
            ledger.transition(coid, final, reason=f"adopted order {order.status} on the exchange",
                              filled_count=order.fill_count, remaining_count=order.remaining_count)
        for i in range(0, len(plan.fills), 500):
            chunk = plan.fills[i:i + 500]
            coids = getattr(self, "coids", {})
            records = [FillRecord(f.trade_id, coids.get(f.order_id), f.order_id, f.ticker, str(f.book_side),
                                  f.count, f.price, f.fee, f.is_taker, fill_time(f) or now) for f in chunk]
            self._beat()
            for f, res in zip(chunk, ledger.book_fills(records), strict=True):
                if res.booked and guardian is not None:
                    guardian.tell(FillBooked(f.trade_id, "", f.ticker, f.count, f.price, f.fee, res.realized_pnl))
        for key, s in plan.settlements:
            settled_ts = parse_time(s.settled_time) if s.settled_time else now
            res = ledger.book_settlement(
                key=key, ticker=s.ticker, result=s.market_result, revenue=s.revenue, fee=s.fee_cost,
                settled_ts=settled_ts, value=s.value,
                detail={"ticker": s.ticker, "result": s.market_result, "yes_count": str(s.yes_count),
                        "no_count": str(s.no_count), "revenue": str(s.revenue), "settled_time": s.settled_time})
            if res.booked and guardian is not None:  # the daily-loss and losing-streak switches count it
                guardian.tell(FillBooked(key, "", s.ticker, abs(res.net_count), s.value or Decimal(0),
                                         Decimal(0), res.realized_pnl))

    def _act(self, findings: tuple[Finding, ...]) -> None:
        """Alert every finding (the first few per kind one by one), then apply each one's action."""
        counts: dict[Kind, int] = {}
        for f in findings:
            n = counts[f.kind] = counts.get(f.kind, 0) + 1
            if n > ALERTS_PER_KIND:
                continue
            if f.resolved and f.kind is Kind.ORPHAN_FILL:
                self.log.warning("missed fill booked: {}", f.evidence)
                continue
            severity = (Severity.INFO if f.kind is Kind.SETTLEMENT else
                        Severity.WARNING if f.resolved or f.action == "alert" else Severity.CRITICAL)
            fields = (*f.fields, ("ledger", f.ledger), ("exchange", f.exchange), ("evidence", f.evidence),
                      ("action", f.action))
            key = None if f.resolved else f"reconcile:{f.kind.value}:{f.ticker}:{f.ledger}:{f.exchange}"
            self._alert(Alert(severity, _TITLES[f.kind], fields, key))
            if f.action == "halt":
                guardian = self.ctx.peers.get("guardian")
                if guardian is not None:
                    guardian.tell(Discrepancy(_MESSAGE_KIND.get(f.kind, DiscrepancyKind.MISMATCH), f.ticker,
                                              f"{f.kind.value}: {f.evidence}"))
            elif f.action == "reduce":
                self.ctx.gate.reduce(f"reconciliation: {f.kind.value} {f.ticker}", "reconciler")
        for kind, n in counts.items():
            if n > ALERTS_PER_KIND:
                self._alert(Alert(Severity.WARNING, f"{_TITLES[kind]}: {n - ALERTS_PER_KIND} more",
                                  (("kind", kind.value), ("count", str(n))), f"reconcile:more:{kind.value}"))

    def _failed(self, report: dict[str, Any], t0: float, started: float, error: str) -> ReconcileResult:
        report.update(ok=False, error=error, summary=error, duration_ms=round((time.perf_counter() - t0) * 1000, 1))
        ledger = self.ctx.services.ledger
        if ledger is not None:
            self._record(ledger, started, False, {"report": report})
        self.log.error("reconciliation ({}) failed, nothing changed: {}", report["reason"], error)
        self._alert(Alert(Severity.CRITICAL, "reconciliation failed: exchange state unknown",
                          (("reason", report["reason"]), ("error", error)), "reconcile:failed"))
        self.last_report = MappingProxyType(report)
        return ReconcileResult(False, error, (), self.last_report)

    def _record(self, ledger: Any, started: float, ok: bool, summary: dict[str, Any]) -> None:
        try:
            ledger.record_reconciliation(started, self.ctx.clock(), ok, summary)
        except Exception as exc:
            self.log.error("could not record reconciliation: {!r}", exc)

    def _alert(self, alert: Alert) -> None:
        alerter = self.ctx.peers.get("alerter")
        if alerter is not None:
            alerter.tell(alert)
