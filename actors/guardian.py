"""The guardian: the kill switch's six triggers (``actors.triggers``), evaluated on the event that moves
each and on a sweep every ``guardian.check_interval_s``. A tripped trigger acts through the one owner of a
stop, :class:`~kalshi_guard.actors.killswitch.KillSwitch`: ``halt`` (the full stop) or ``reduce`` (gate
REDUCING), per ``guardian.<trigger>_action`` (docs/architecture.md §5).

What moves what:

- ``FillBooked`` → daily loss (realised, net of fees) and the losing streak, from one read of the ledger's
  tape (bookings queued together are judged by one evaluation, which covers every row booked so far).
- ``Discrepancy`` (orphan or mismatch) → ORPHAN; a ghost position only warns.
- exchange call failures (the process's ``CallMeter``: every call of every actor, stream failures included;
  ``ApiError`` / ``ApiSuccess`` feed a meter of its own when the daemon has none) → API error rate.
- ``BalanceObserved`` → portfolio drop (cash + positions marked at the bid).
- ``EmergencyStop`` / ``GatePersist`` → MANUAL.
- the sweep → all six, from fresh reads: realised P&L from the ledger since the day began, open positions
  marked at the bid, the balance, the tape. The day anchor (``ledger.risk``) is persisted; a daemon that
  was down across the day boundary rebuilds it from the ledger (see :meth:`Guardian._anchor_for`).

An exception while evaluating a trigger trips it (fail closed). :meth:`Guardian.readings` (ask
``LimitsQuery``) answers ``GET /api/limits``.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from kalshi_guard.actors.base import SupervisedActor
from kalshi_guard.actors.coalesce import take_queued
from kalshi_guard.actors.killswitch import KillSwitch
from kalshi_guard.actors.messages import (
    Alert,
    ApiError,
    ApiSuccess,
    BalanceObserved,
    Discrepancy,
    DiscrepancyKind,
    EmergencyStop,
    FillBooked,
    GatePersist,
    LimitsQuery,
    Reset,
    Severity,
)
from kalshi_guard.actors.pnl import ZERO, Book, Day, PnL, StreakReplay, day_of, mark, marks
from kalshi_guard.actors.triggers import (
    Reading,
    TriggerCode,
    api_error_rate,
    counted,
    daily_loss,
    guarded,
    losing_streak,
    portfolio_drop,
)
from kalshi_guard.config.schema import Settings
from kalshi_guard.config.shares import resolve
from kalshi_guard.core import observe
from kalshi_guard.core.gate import GateState
from kalshi_guard.exchange.meter import CallMeter
from kalshi_guard.ledger.risk import DayAnchor, Realized

DEFAULT_SETTINGS = Settings()  # a guardian started without settings (tests of the tree) uses the defaults
FILLS_JUDGED_TOGETHER = 1000  # FillBooked tells waiting together that one evaluation answers for
REBUILD_AFTER_S = 120.0  # an anchor first written this long after the day began is a rebuilt one
GATE_RETRY_S = 5.0  # a gate state whose write failed is written again this often


class Guardian(SupervisedActor):
    """Permanent, one-for-one."""

    def setup(self) -> None:
        """Open the guardian's exchange client, find the meter and the kill switch, replay the streak."""
        services = self.ctx.services
        factory = services.exchange_factory
        self.client: Any = factory("guardian") if factory is not None else None
        self.ledger = services.ledger
        meter = services.meter
        self.own_meter = meter is None
        self.meter: CallMeter = meter if meter is not None else CallMeter(self.ctx.clock)
        self._api_nudged = threading.Event()
        ref = self.actor_ref

        def nudge(_source: str) -> None:
            if not self._api_nudged.is_set():
                self._api_nudged.set()
                ref.tell(ApiError("meter", "failure"))

        if not self.own_meter:
            self.meter.listen(nudge)
        switch = services.killswitch
        self.killswitch: KillSwitch = switch if switch is not None else KillSwitch(
            self.ctx.gate, self.ctx.peers, services, targets=tuple)
        self.killswitch.pnl_today = lambda: self.pnl.as_dict()
        self.killswitch.prime(self.ctx.clock)  # the stop's exchange connection, opened now and kept warm
        self.readings: dict[TriggerCode, Reading] = {}
        self.pnl: PnL = PnL(ZERO, ZERO, ZERO)
        self.day: Day | None = None
        self.anchor: DayAnchor | None = None
        self.realized = Realized(ZERO, ZERO)
        self.values = ZERO  # open positions marked at the bid, at the last sweep
        self.portfolio: Decimal | None = None
        self.orphans = 0
        self.manual = 0
        self.replay = StreakReplay()
        self._replayed = False
        self._tape_reads = 0  # completed reads of the ledger's tape (an evaluation tells whether it read it)
        self._noted_day: date | None = None
        self._last_sweep = float("-inf")
        self._gate_retry_at = float("-inf")
        self.stops = 0

    def teardown(self) -> None:
        """Close the client."""
        if getattr(self, "client", None) is not None:
            self.client.close()

    # -- dispatch -------------------------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        """Events (tell), resets and the limits query (ask)."""
        if isinstance(message, EmergencyStop | GatePersist):
            self.manual += 1
            self.stops += 1
            self._judge(counted(TriggerCode.MANUAL, self.manual, self._action(TriggerCode.MANUAL), self._now(),
                                f"{message.reason} (source {message.source})"), message.source)
        elif isinstance(message, Reset):
            return self.reset(message)
        elif isinstance(message, LimitsQuery):
            return self.limits()
        elif isinstance(message, ApiSuccess):
            if self.own_meter:
                for _ in range(message.count):
                    self.meter.ok(message.source)
        elif isinstance(message, ApiError):
            if self.own_meter:
                self.meter.failed(message.source)
            self._api_nudged.clear()
            self._evaluate(TriggerCode.API_ERROR_RATE, self._api_reading)
        elif isinstance(message, FillBooked):
            # the bookings queued right behind it are judged by this one reading of the ledger's tape
            take_queued(self.actor_inbox, FillBooked, FILLS_JUDGED_TOGETHER)
            self._fill(message)
        elif isinstance(message, Discrepancy):
            self._discrepancy(message)
        elif isinstance(message, BalanceObserved):
            if self.anchor is None:  # the first reading of this run: the day and its anchor first
                self._evaluate(TriggerCode.DAILY_LOSS, lambda: self._refresh_pnl(self._settings.guardian))
            self._evaluate(TriggerCode.PORTFOLIO_DROP, lambda: self._observed(message.balance))
        else:
            return super().handle(message)
        return None

    def on_tick(self) -> None:
        """The sweep, every ``guardian.check_interval_s`` (the first at the first heartbeat); the stop's
        exchange connection is kept warm on every tick."""
        self.killswitch.tick()
        now = self.ctx.clock()
        self._persist_gate(now)
        if now - self._last_sweep >= self._settings.guardian.check_interval_s:
            self._last_sweep = now
            self.sweep()

    def _persist_gate(self, now: float) -> None:
        """A gate state whose write failed (a stop during a full disk or a database outage) is written again
        every ``GATE_RETRY_S`` until it lands, so that the stop still holds after a restart."""
        owed = self.ctx.gate.unsaved()
        if owed is None or now < self._gate_retry_at:
            return
        self._gate_retry_at = now + GATE_RETRY_S
        if self.ctx.gate.persist_unsaved():
            self.log.warning("the gate's {} ({}) is persisted now; its first write had failed", owed.state.value,
                             owed.reason)
        else:
            self.log.error("the gate's {} is still not persisted (the ledger refuses writes); a restart now would "
                           "not know it", owed.state.value)

    # -- evaluation ------------------------------------------------------------------------------------

    @property
    def _settings(self) -> Any:
        return self.ctx.services.settings or DEFAULT_SETTINGS

    def _now(self) -> float:
        return self.ctx.clock()

    def _action(self, code: TriggerCode) -> str:
        return str(getattr(self._settings.guardian, code.action_key).value)

    def _limit(self, code: TriggerCode) -> Decimal:
        lim = self._settings.limits
        day_start = None if self.anchor is None else self.anchor.portfolio
        return {TriggerCode.DAILY_LOSS: resolve(lim.max_daily_loss, day_start),  # dollars, or a share of the day
                TriggerCode.LOSING_STREAK: Decimal(lim.max_consecutive_losses),
                TriggerCode.API_ERROR_RATE: lim.max_api_error_rate,
                TriggerCode.PORTFOLIO_DROP: lim.max_balance_drop}.get(code, Decimal(1))

    def _evaluate(self, code: TriggerCode, reading: Any) -> Reading:
        result = guarded(code, self._limit(code), self._action(code), self._now(), reading)
        self._judge(result, f"guardian:{code.value.lower()}")
        return result

    def _judge(self, reading: Reading, source: str, *, force: bool = False) -> None:
        """Keep the reading; act when it trips (a halt unless the gate is HALTED already; a reduce only
        from ACTIVE). ``force``: an operator's stop runs again even when HALTED."""
        self.readings[reading.code] = reading
        if not reading.tripped:
            return
        reason = f"{reading.code.value}: {reading.detail}"
        state = self.ctx.gate.state
        if reading.action == "reduce" and not force:
            if state is GateState.ACTIVE:
                self.killswitch.reduce(reason, source, reading.code.value)
            return
        if force or state is not GateState.HALTED:
            self.killswitch.stop(reason, source, reading.code.value)

    def _api_reading(self) -> Reading:
        lim = self._settings.limits
        c = self.meter.counts(lim.api_error_window_s)
        return api_error_rate(c.calls, c.failures, lim.max_api_error_rate, lim.api_error_min_calls,
                              lim.api_error_window_s, self._action(TriggerCode.API_ERROR_RATE), self._now())

    def _loss_reading(self) -> Reading:
        pnl = self.pnl
        return daily_loss(pnl.total, self._limit(TriggerCode.DAILY_LOSS), self._action(TriggerCode.DAILY_LOSS),
                          self._now(), f"total P&L today {pnl.total} (realised net {pnl.realized_net}, "
                                       f"unrealised {pnl.unrealized - pnl.unrealized_at_anchor} since the anchor)")

    def _feed_tape(self) -> None:
        """Read the ledger's tape since the last read (the whole of it after a start or a new day): the
        streak and today's realised P&L both come from it, each booking exactly once (by row id)."""
        if self.ledger is None:
            return
        if not self._replayed:
            self._replay_from_ledger()
        else:
            tape = self.ledger.pnl_tape(self.replay.after_fill, self.replay.after_settlement)
            self.replay.feed(tape)
            self._add_realized(tape)
        self._tape_reads += 1

    def _add_realized(self, tape: list[Any]) -> None:
        start = self.day.start.timestamp() if self.day is not None else float("-inf")
        gross, fees = self.realized.gross, self.realized.fees
        for e in tape:
            if e.at >= start:
                gross, fees = gross + e.realized, fees + e.fee
        self.realized = Realized(gross, fees)

    def _streak_reading(self, read_tape: bool = True) -> Reading:
        if read_tape:
            self._feed_tape()
        return losing_streak(self.replay.streak, self._settings.limits.max_consecutive_losses,
                             self._action(TriggerCode.LOSING_STREAK), self._now(), self.replay.last_trip)

    def _replay_from_ledger(self) -> None:
        """The first evaluation after a (re)start replays the whole tape; the streak restarts at the last
        reset's marker (the tape ids its RESET row recorded), so a restart neither forgets nor revives it."""
        replay = StreakReplay()
        tape = self.ledger.pnl_tape()
        resets = self.ledger.activity("RESET", limit=1)
        details = (resets[0].details or {}) if resets else {}
        mark_f, mark_s = int(details.get("streak_after_fill", 0)), int(details.get("streak_after_settlement", 0))
        if mark_f or mark_s:
            replay.feed(e for e in tape if (e.row_id <= mark_f if e.kind == "fill" else e.row_id <= mark_s))
            replay.streak = 0
            tape = [e for e in tape if (e.row_id > mark_f if e.kind == "fill" else e.row_id > mark_s)]
        replay.feed(tape)
        self.replay, self._replayed = replay, True
        self.realized = Realized(ZERO, ZERO)
        self._add_realized(self.ledger.pnl_tape())

    def _drop_reading(self) -> Reading:
        anchor = None if self.anchor is None else self.anchor.portfolio
        if anchor is None and self.anchor is not None and self.portfolio is not None and self.ledger is not None:
            self.anchor = self.ledger.fill_portfolio_anchor(self.anchor.day, self.portfolio) or self.anchor
            anchor = self.anchor.portfolio
        return portfolio_drop(anchor, self.portfolio, self._settings.limits.max_balance_drop,
                              self._action(TriggerCode.PORTFOLIO_DROP), self._now())

    def _fill(self, _msg: FillBooked) -> None:
        """Daily loss and the streak after bookings, from one read of the tape (a failed read trips both)."""
        g = self._settings.guardian
        self._judge_pnl(lambda: self._refresh_pnl(g) if self.anchor is None else self._realized_reading())

    def _judge_pnl(self, daily_loss: Any) -> None:
        """Daily loss (``daily_loss`` reads the tape), then the streak from that same read; the streak reads
        the tape itself only when the daily-loss reading failed before reading it (a failed read trips both)."""
        reads = self._tape_reads
        self._evaluate(TriggerCode.DAILY_LOSS, daily_loss)
        self._evaluate(TriggerCode.LOSING_STREAK, lambda: self._streak_reading(read_tape=self._tape_reads == reads))

    def _realized_reading(self) -> Reading:
        """Daily loss after a booking: the tape's new realised P&L, the last sweep's marks."""
        self._feed_tape()
        self.pnl = PnL(self.realized.gross, self.realized.fees, self.pnl.unrealized, self.pnl.unrealized_at_anchor)
        return self._loss_reading()

    def _discrepancy(self, msg: Discrepancy) -> None:
        observe.emit("discrepancy", kind=msg.kind.value)
        if msg.kind is DiscrepancyKind.GHOST:
            self._alert(Severity.WARNING, "ghost position", (("ticker", msg.ticker), ("detail", msg.detail)))
            return
        self.orphans += 1
        self._judge(counted(TriggerCode.ORPHAN, self.orphans, self._action(TriggerCode.ORPHAN), self._now(),
                            f"{msg.kind.value} {msg.ticker}: {msg.detail}"), f"guardian:{msg.kind.value}")

    # -- the sweep -------------------------------------------------------------------------------------

    def sweep(self) -> dict[TriggerCode, Reading]:
        """Re-read everything and evaluate all six triggers (each guarded: a failure trips it)."""
        g = self._settings.guardian
        self._judge_pnl(lambda: self._refresh_pnl(g))
        self._evaluate(TriggerCode.API_ERROR_RATE, self._api_reading)
        self._judge(counted(TriggerCode.ORPHAN, self.orphans, self._action(TriggerCode.ORPHAN), self._now(),
                            f"{self.orphans} orphans / mismatches since the last reset"), "guardian:orphan")
        self._judge(counted(TriggerCode.MANUAL, self.manual, self._action(TriggerCode.MANUAL), self._now(),
                            f"{self.manual} operator stops since the last reset"), "guardian:manual")
        self._evaluate(TriggerCode.PORTFOLIO_DROP, self._drop_reading)
        return dict(self.readings)

    def _refresh_pnl(self, g: Any) -> Reading:
        """Fresh P&L: day, realised since it began, open positions marked at the bid, the balance."""
        now = self._now()
        day = day_of(now, g.day_boundary, g.timezone)
        if self.day is None or self.day.name != day.name:
            self.day, self.anchor, self._replayed = day, None, False  # a new day: realised from the whole tape
        self._feed_tape()
        positions = self.ledger.positions(open_only=True) if self.ledger is not None else []
        books: dict[str, Book] = {}
        if self.client is not None:
            for p in positions:
                books[p.ticker] = self._book(p.ticker)
        marked = marks(positions, books)
        unrealized = sum((m.unrealized for m in marked), ZERO)
        self.values = sum((m.value for m in marked), ZERO)
        if self.client is not None:
            self.portfolio = self._portfolio_now(self.client.get_balance().balance, books)
        if self.anchor is None:
            self.anchor = self._anchor_for(day, now, unrealized)
        self.pnl = PnL(self.realized.gross, self.realized.fees, unrealized, self.anchor.unrealized)
        return self._loss_reading()

    def _book(self, ticker: str) -> Book:
        ob = self.client.get_orderbook(ticker)
        return Book(ob.best_yes_bid, ob.best_yes_ask)

    def _portfolio_now(self, balance: Decimal, books: dict[str, Book] | None = None) -> Decimal:
        """Cash plus the exchange's positions marked at the bid. The balance is read before the positions,
        so a fill between the two reads adds its position rather than only removing its cash (opening a
        position at the market must never look like a drop)."""
        books = dict(books or {})
        value = ZERO
        for p in self.client.get_positions().market_positions:
            if p.position == 0:
                continue
            if p.ticker not in books:
                books[p.ticker] = self._book(p.ticker)
            value += mark(p.ticker, p.position, ZERO, books[p.ticker]).value
        return balance + value

    def _observed(self, balance: Decimal) -> Reading:
        """A reconciler balance: the portfolio now (positions read fresh when there is an exchange)."""
        self.portfolio = balance + self.values if self.client is None else self._portfolio_now(balance)
        self._note_day_start()
        return self._drop_reading()

    def _note_day_start(self) -> None:
        """The first reconciler balance of each UTC day (plus the positions at the bid) also goes to the
        ledger's daily anchor, which the placer's limits given as a share of the day-start value resolve
        against (first writer wins)."""
        today = datetime.fromtimestamp(self._now(), UTC).date()
        if self.portfolio is None or self.ledger is None or self._noted_day == today:
            return
        self.ledger.set_daily_anchor(today, self.portfolio)
        self._noted_day = today

    def _anchor_for(self, day: Day, now: float, unrealized: Decimal) -> DayAnchor:
        """The persisted anchor of ``day``, or a new one. Written at the day's start it takes the marks of
        now; written later (the daemon was down across the boundary) it is rebuilt: the realised part comes
        from the ledger anyway, the unrealised part at the anchor is taken as max(0, now's) — a position
        under water counts wholly as today's loss (never understated), one in profit adds nothing — and
        the portfolio anchor is now's portfolio minus the day's P&L so far."""
        stored = self.ledger.day_anchor(day.name) if self.ledger is not None else None
        if stored is not None:
            return stored
        rebuilt = now - day.start.timestamp() > max(REBUILD_AFTER_S, 2 * self._settings.guardian.check_interval_s)
        at_anchor = max(ZERO, unrealized) if rebuilt else unrealized
        portfolio = self.portfolio
        if rebuilt and portfolio is not None:
            portfolio = portfolio - (self.realized.net + unrealized - at_anchor)
        if self.ledger is None:
            return DayAnchor(day.name, day.start.timestamp(), at_anchor, portfolio, rebuilt)
        return self.ledger.set_day_anchor(day.name, day.start, at_anchor, portfolio, rebuilt=rebuilt)

    # -- operator ----------------------------------------------------------------------------------------

    def limits(self) -> list[dict[str, Any]]:
        """Every trigger's last reading (``GET /api/limits``), in the order of :class:`TriggerCode`."""
        return [self.readings[c].as_dict() for c in TriggerCode if c in self.readings]

    def reset(self, message: Reset) -> dict[str, Any]:
        """Lift the gate (the caller has checked HALTED and passed a clean reconciliation): reset the order
        group (a failure refuses the reset: raises), clear the counted triggers and the streak, one RESET
        row, one alert. Raises ValueError on an empty reason; nothing changes then."""
        if not message.reason or not message.reason.strip():
            raise ValueError("a reset needs a reason")
        group = self.killswitch.reset_group()
        if self.ledger is not None:
            self._evaluate(TriggerCode.LOSING_STREAK, self._streak_reading)  # the tape read up to now
        before = self.ctx.gate.snapshot()
        snap = self.ctx.gate.reset(message.reason, message.source)
        self.orphans = self.manual = 0
        self.replay.streak = 0
        self.readings.clear()
        if self.ledger is not None:
            self.ledger.log_activity(
                "RESET", "WARNING", f"gate reset by {message.source}: {message.reason}",
                {"from": before.state.value, "previous_reason": before.reason, "source": message.source,
                 "order_group": group, "streak_after_fill": self.replay.after_fill,
                 "streak_after_settlement": self.replay.after_settlement})
        self._alert(Severity.WARNING, "kill switch reset: trading resumed",
                    (("reason", message.reason), ("source", message.source), ("order group", group)), kind="reset")
        return {"state": snap.state.value, "reason": snap.reason, "source": snap.source, "order_group": group}

    def _alert(
        self, severity: Severity, title: str, fields: tuple[tuple[str, str], ...], kind: str = "general"
    ) -> None:
        handle = self.ctx.peers.get("alerter")
        if handle is not None:
            handle.tell(Alert(severity, title, fields, kind=kind))
