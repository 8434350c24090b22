"""The message vocabulary of the actor tree: frozen, slotted dataclasses and the enums they carry.

pykka does not copy messages between threads, so every message is immutable (docs/architecture.md
§4). Collections inside messages are tuples, never lists or dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Severity(StrEnum):
    """How loudly an alert must be raised. CRITICAL also pages (PagerDuty)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class DiscrepancyKind(StrEnum):
    """What reconciliation found (docs/architecture.md §4)."""

    ORPHAN = "orphan"  # filled on the exchange, unknown locally -> critical alert and halt
    GHOST = "ghost"  # open locally, closed on the exchange -> closed locally on evidence
    MISMATCH = "mismatch"  # both sides know the position but disagree on its size


# -- supervision ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ping:
    """Heartbeat probe from the supervisor; the child answers by stamping its heartbeat board entry."""

    seq: int


@dataclass(frozen=True, slots=True)
class Halt:
    """The guardian's broadcast: stop taking new risk now and drop queued order work.

    Correctness never depends on its delivery: the gate is already closed when it is sent (docs/architecture.md §5).
    """

    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class Crash:
    """Test and diagnostics hook: the receiving actor raises ``RuntimeError`` (a failing ``tell``)."""

    detail: str = "crash requested"


@dataclass(frozen=True, slots=True)
class CrashHard:
    """Test hook: the receiving actor raises ``SystemExit`` (a ``BaseException`` in a handler)."""


@dataclass(frozen=True, slots=True)
class Hang:
    """Test hook: the receiving actor blocks its thread until ``release`` is set (a hung actor)."""

    release: object  # threading.Event; typed loosely to keep messages free of threading imports


# -- operator -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmergencyStop:
    """An operator (signal, HTTP, CLI, dashboard) asks to halt everything."""

    source: str
    reason: str = "manual emergency stop"


@dataclass(frozen=True, slots=True)
class Reset:
    """An operator asks to lift a HALTED gate. ``reason`` is mandatory and audited."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class LimitsQuery:
    """Ask the guardian for every kill-switch trigger's reading (``GET /api/limits``)."""


@dataclass(frozen=True, slots=True)
class GatePersist:
    """Main loop → guardian: the gate was closed lock-free (signal handler); persist, halt, alert, audit."""

    reason: str
    source: str


# -- alerts and risk inputs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """Any actor → alerter. ``fields`` are (name, value) pairs shown in Discord embeds / PD details."""

    severity: Severity
    title: str
    fields: tuple[tuple[str, str], ...] = ()
    dedup_key: str | None = None
    kind: str = "general"  # config.schema.AlertKind: routing and PagerDuty (kill_switch, reset, trade, …)


@dataclass(frozen=True, slots=True)
class ApiError:
    """Any actor → guardian: one exchange call failed (feeds the API error-rate kill switch)."""

    source: str
    kind: str  # ExchangeError subclass name, e.g. "Ambiguous"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ApiSuccess:
    """Any actor → guardian: ``count`` exchange calls succeeded (the denominator of the error rate).
    Busy senders batch them (at every heartbeat, and before any ApiError) instead of one message a call."""

    source: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """Reconciler → guardian."""

    kind: DiscrepancyKind
    ticker: str
    detail: str
    local: Decimal | None = None
    exchange: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FillBooked:
    """Fill watcher → guardian: a fill was booked (exactly once, by ``trade_id``)."""

    trade_id: str
    client_order_id: str
    ticker: str
    count: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal = Decimal(0)
    side: str = ""  # yes / no (for the trade notice)
    action: str = ""  # buy / sell


@dataclass(frozen=True, slots=True)
class TradeClosed:
    """Fill watcher → guardian: a round trip closed with this realised P&L (consecutive-loss switch)."""

    ticker: str
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class BalanceObserved:
    """Reconciler → guardian: a fresh balance reading (daily-loss and balance-drop switches)."""

    balance: Decimal
    portfolio_value: Decimal = Decimal(0)
    extra: tuple[tuple[str, str], ...] = field(default=())


# -- reconciliation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReconcileNow:
    """Ask the reconciler for a full pass now (start-up, reset, or after a stream reconnect)."""

    reason: str


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """The outcome of one pass. ``ok`` False means the exchange state could not be established;
    ``discrepancies`` are the findings booking did not resolve (a reset needs ``clean``). ``report`` is the
    pass's JSON report (a read-only mapping: ok, started_at, duration_ms, pages, discrepancies, …)."""

    ok: bool
    summary: str
    discrepancies: tuple[Discrepancy, ...] = ()
    report: object = None

    @property
    def clean(self) -> bool:
        """The exchange was read completely and nothing unexplained stands."""
        return self.ok and not self.discrepancies


@dataclass(frozen=True, slots=True)
class LastReconcile:
    """Ask the reconciler for the report of its last pass (None before the first)."""


# -- orders (issue #4) ----------------------------------------------------------------------------
# ``request`` fields hold ``actors.orders_api.OrderRequest`` (frozen); ``reply`` a ``actors.reply.Reply``
# (the one-shot channel the caller waits on; handing it over is how the answer finds its way back).


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Caller → order placer: check, write ahead, gate, send; the confirmation comes back on ``reply``."""

    request: object
    reply: object
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class PlaceBatch:
    """Caller → order placer: several orders sent as one batch request; one reply per order, in order."""

    requests: tuple[object, ...]
    replies: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Caller → fill watcher: cancel what remains of a tracked order (cancels always pass the gate)."""

    client_order_id: str
    reason: str = "requested"


@dataclass(frozen=True, slots=True)
class Track:
    """Order placer → fill watcher: confirm this order. ``events`` are what the send already taught us
    (``Sending`` then ``Sent`` / ``Ambiguous`` / ``Rejected`` from ``actors.confirmation``)."""

    request: object
    client_order_id: str
    created_ts: float
    events: tuple[object, ...]
    reply: object
    quote: object = None  # ``actors.end_reason.Quote``: the book the pre-trade check saw


@dataclass(frozen=True, slots=True)
class Resend:
    """Fill watcher → order placer: re-send an ambiguous create with the same client_order_id. It carries the
    order's request (the tracker holds it), so the placer keeps nothing per order once it has sent one."""

    client_order_id: str
    request: object


@dataclass(frozen=True, slots=True)
class Resent:
    """Order placer → fill watcher: the outcome events of a :class:`Resend`."""

    client_order_id: str
    events: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """The stream thread → fill watcher: one parsed message from the private channels."""

    message: object


@dataclass(frozen=True, slots=True)
class StreamNotice:
    """The stream thread → fill watcher: connected, reconnected (reconcile), stale, …"""

    event: str


@dataclass(frozen=True, slots=True)
class ResolveOpenOrders:
    """Ask the fill watcher to resolve every non-final order in the ledger against the exchange
    (start-up, before the gate opens). Returns a summary string; raises when the exchange is unreadable."""

    reason: str


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Caller → fill watcher: cancel every resting order on the exchange (one cancel-all request) and settle
    each tracked order from exchange evidence (read back, book what filled)."""

    reason: str = "requested"
