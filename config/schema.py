"""The settings schema: frozen pydantic models that reject unknown keys.

Every section lives here; the loader (``config.loader``) layers file → environment → systemd
credentials and turns validation errors into one line per problem (exit 78). Money is ``Decimal``.
Secrets are ``SecretStr`` so that ``repr`` and ``str`` never show them.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    field_validator,
    model_validator,
)

from kalshi_guard.config.shares import Share, parse_money_or_share, resolve


class Frozen(BaseModel):
    """Base of every settings model: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class Mode(StrEnum):
    """PAPER trades against the embedded simulator; LIVE against Kalshi."""

    PAPER = "paper"
    LIVE = "live"


class Environment(StrEnum):
    """Which exchange the client talks to (only URLs and keys differ)."""

    SIMULATOR = "simulator"
    DEMO = "demo"
    PRODUCTION = "production"


Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=6)]
Fraction = Annotated[Decimal, Field(gt=0, le=1)]
# dollars ("50") or a share of the day-start portfolio value ("5%"): see config/shares.py
MoneyOrShare = Annotated[Decimal, PlainValidator(parse_money_or_share), PlainSerializer(str, return_type=str)]


class ExchangeSettings(Frozen):
    """Where Kalshi is and how we sign. In paper mode the embedded simulator fills these in."""

    environment: Environment = Environment.SIMULATOR
    base_url: str | None = None  # REST base including /trade-api/v2; None = the environment's default
    ws_url: str | None = None
    key_id: str | None = None
    private_key_file: Path | None = None  # PEM, PKCS#1 or PKCS#8; must not be world-readable
    request_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    read_rate_per_s: Annotated[float, Field(gt=0, le=10000)] = 20.0
    write_rate_per_s: Annotated[float, Field(gt=0, le=10000)] = 10.0
    reserve_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.2  # of the write bucket, for cancels/exits


class SimulatorSettings(Frozen):
    """The embedded simulator used in paper mode (and by ``kalshi-guard sim``)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8788  # 0 = pick a free port
    seed: int = 7
    persist: bool = True  # keep the paper account in <state dir>/paper-account.jsonl
    starting_balance: Money = Decimal("1000")
    liquidity_interval_s: Annotated[float, Field(ge=0, le=3600)] = 2.0  # synthetic makers re-quote; 0 = static


class LedgerSettings(Frozen):
    """The database. ``url`` None = SQLite file ``<state dir>/ledger.sqlite`` (WAL)."""

    url: SecretStr | None = None  # may hold a password, so it is treated as a secret
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"  # FULL: fsync every commit (see ledger/engine.py)


class LimitSettings(Frozen):
    """Risk limits. Reloadable with SIGHUP (an invalid reload is refused; the old limits stay)."""

    max_daily_loss: MoneyOrShare = Decimal("50")  # dollars, or "5%" of the day-start portfolio value
    max_consecutive_losses: Annotated[int, Field(ge=1, le=1000)] = 4  # losing round trips in a row
    max_api_error_rate: Fraction = Decimal("0.5")  # over the window below, with a minimum sample
    api_error_window_s: Annotated[int, Field(ge=10, le=3600)] = 60
    api_error_min_calls: Annotated[int, Field(ge=1, le=10000)] = 10
    max_balance_drop: Fraction = Decimal("0.2")  # portfolio (cash + positions at the bid) below the day anchor
    max_order_count: Annotated[Decimal, Field(gt=0, le=100000)] = Decimal("100")
    max_order_loss: MoneyOrShare = Decimal("50")  # worst-case loss of one order, fees included; or "5%"
    max_open_positions: Annotated[int, Field(ge=1, le=100000)] = 3  # markets holding (or able to hold) a position
    max_market_exposure: Money = Decimal("100")
    max_event_exposure: Money = Decimal("200")
    max_total_exposure: Money = Decimal("500")
    max_open_orders: Annotated[int, Field(ge=1, le=200000)] = 50
    max_orders_per_s: Annotated[float, Field(gt=0, le=10000)] = 20.0
    price_collar: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.10")  # max distance from the book
    close_buffer_min: Annotated[int, Field(ge=0, le=1440)] = 5  # no new orders this close to close


    def resolved(self, day_start_value: Decimal | None) -> LimitSettings:
        """These limits with every share turned into dollars against ``day_start_value`` (a share resolves to
        0 while no anchor exists: fail closed)."""
        shares = {k: resolve(getattr(self, k), day_start_value) for k in ("max_daily_loss", "max_order_loss")
                  if isinstance(getattr(self, k), Share)}
        return self.model_copy(update=shares) if shares else self


class TriggerAction(StrEnum):
    """What a tripped kill-switch trigger does to the gate."""

    HALT = "halt"  # HALTED: the full stop (cancel, flatten)
    REDUCE = "reduce"  # REDUCING: only orders that shrink a position pass the send point


class GuardianSettings(Frozen):
    """The kill switch's sweep and trading day. Every trigger is evaluated on the event that moves it and
    on a sweep every ``check_interval_s``. The day (daily loss, portfolio drop) starts at ``day_boundary``
    (HH:MM) in ``timezone`` (an IANA name). ``<trigger>_action`` is what each trigger does when it trips."""

    check_interval_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    day_boundary: str = Field(default="00:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"
    daily_loss_action: TriggerAction = TriggerAction.HALT
    losing_streak_action: TriggerAction = TriggerAction.HALT
    api_error_rate_action: TriggerAction = TriggerAction.HALT
    orphan_action: TriggerAction = TriggerAction.HALT
    manual_action: TriggerAction = TriggerAction.HALT
    portfolio_drop_action: TriggerAction = TriggerAction.HALT

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class KillSettings(Frozen):
    """What a stop does after the gate closes: the order group, cancel-all and the flatten."""

    order_group: bool = True  # create an order group at start-up, attach every order, trigger it on a stop
    order_group_contracts_limit: Annotated[Decimal, Field(gt=0, le=10_000_000)] = Decimal("1000000")
    flatten: bool = True  # close every open position with reduce-only IOC orders on a stop
    flatten_max_slippage: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.05")  # from the book, dollars
    flatten_attempts: Annotated[int, Field(ge=1, le=20)] = 3  # each attempt widens the price by the slippage
    step_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0


class OrderSettings(Frozen):
    """Confirmation policy (docs/architecture.md §6)."""

    fill_threshold: Fraction = Decimal("0.80")
    confirm_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    order_group_id: str | None = None
    cancel_order_on_pause: bool = True
    stream_stale_s: Annotated[float, Field(gt=0, le=600)] = 15.0
    poll_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    # an UNKNOWN order is looked up after poll_interval_s, then at doubling intervals up to this cap
    unknown_poll_max_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    # absent from the exchange's listing this long (and no fill that could be its) => REJECTED NOT_ON_EXCHANGE
    unknown_settle_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # orders queued at the placer go out together in one batch create of at most this many (1 = never);
    # also bounded by what the client's write bucket can pay for in one request
    coalesce_max: Annotated[int, Field(ge=1, le=100)] = 20


ReconcileAction = Literal["halt", "reduce", "alert"]


class ReconcileActions(Frozen):
    """What a discrepancy that evidence does not explain does: ``halt`` trips the kill switch, ``reduce``
    moves the gate to REDUCING, ``alert`` only raises an alert (every kind alerts in any case)."""

    orphan_order: ReconcileAction = "halt"
    orphan_fill: ReconcileAction = "halt"  # a fill whose order is not ours (a missed fill of ours is booked)
    ghost_position: ReconcileAction = "alert"  # corrected on booked evidence
    mismatch: ReconcileAction = "halt"
    cash: ReconcileAction = "alert"


class ReconcileSettings(Frozen):
    """Reconciliation: periodic passes, the fill look-back overlap, the cash tolerance and the actions."""

    interval_s: Annotated[float, Field(ge=5, le=86400)] = 300.0
    fills_overlap_s: Annotated[float, Field(ge=0, le=7 * 86400)] = 900.0  # re-read fills this far behind
    cash_tolerance: Money = Decimal("0.05")  # dollars between the balance and the ledger's expectation
    page_limit: Annotated[int, Field(ge=1, le=1000)] = 1000  # items per page on every read
    actions: ReconcileActions = ReconcileActions()


class BackupSettings(Frozen):
    """Scheduled online backups of the ledger (SQLite backup API; ``pg_dump`` for PostgreSQL)."""

    interval_s: Annotated[float, Field(ge=0, le=7 * 86400)] = 3600.0  # 0 = no scheduled backups
    keep: Annotated[int, Field(ge=1, le=10000)] = 48  # newest backups kept; older ones are deleted
    dir: Path | None = None  # None = <state dir>/backups


class RolloutStage(Frozen):
    """One stage of the live rollout: caps that hold while it is current (unset = the normal limit), and how
    long it must run without a kill-switch trip or a reconciliation discrepancy before the operator may
    advance (``kalshi-guard stage advance``)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    max_order_count: Annotated[Decimal, Field(gt=0, le=100000)] | None = None
    max_order_loss: Money | None = None
    max_total_exposure: Money | None = None
    max_open_positions: Annotated[int, Field(ge=1, le=100000)] | None = None
    advance_after_days: Annotated[float, Field(ge=0, le=365)] = 7.0


class GoLiveSettings(Frozen):
    """Going live: what the pre-live checks demand, and the staged rollout (empty = no stages)."""

    drill_max_age_days: Annotated[float, Field(gt=0, le=365)] = 7.0
    restore_max_age_days: Annotated[float, Field(gt=0, le=365)] = 7.0
    paper_hours: Annotated[float, Field(ge=0, le=24 * 365)] = 24.0
    max_clock_skew_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    stages: tuple[RolloutStage, ...] = ()
    exchange: ExchangeSettings | None = None  # the live account the live switch moves to (demo or production)


class SupervisorSettings(Frozen):
    """Restart policy: backoff with jitter; more than ``max_restarts`` in ``window_s`` escalates."""

    max_restarts: Annotated[int, Field(ge=1, le=1000)] = 5
    window_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    backoff_initial_s: Annotated[float, Field(ge=0, le=60)] = 0.05
    backoff_max_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    heartbeat_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    heartbeat_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    stop_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0


class ControlSettings(Frozen):
    """The operator HTTP API. Binds loopback by default; every route but /api/health needs the token."""

    host: str = "127.0.0.1"  # off loopback: a loud warning, and an explicit token required (config.exposure)
    port: Annotated[int, Field(ge=0, le=65535)] = 8787
    token: SecretStr | None = None  # None = generate one into <state dir>/control-token (0600)
    # Connection guard: open connections at most (fitted under the file limit), a few more for health and
    # emergency stop when every one is busy, and seconds a client has to complete its request.
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 256
    reserve_connections: Annotated[int, Field(ge=0, le=1_000)] = 16
    request_timeout_s: Annotated[float, Field(gt=0, le=300)] = 5.0


class AlertKind(StrEnum):
    """What an alert is about; routes may pick alerts by kind as well as by severity."""

    GENERAL = "general"
    KILL_SWITCH = "kill_switch"  # the gate closed: opens a PagerDuty incident when routed there
    RESET = "reset"  # the gate was lifted: resolves the open PagerDuty incident
    TRADE = "trade"  # a confirmed trade (or a digest of them)
    SUMMARY = "summary"  # the daily summary
    TEST = "test"  # ``kalshi-guard test-alert``


SEVERITIES = ("info", "warning", "critical")


class AlertRoute(Frozen):
    """One routing rule: alerts of at least ``min_severity`` (and, when ``kinds`` is not empty, of one of
    those kinds) go to ``channel``. An alert goes to the union of the channels of every matching rule."""

    channel: Literal["discord", "pagerduty", "webhook"]
    min_severity: Literal["info", "warning", "critical"] = "info"
    kinds: tuple[AlertKind, ...] = ()


DEFAULT_ROUTES: tuple[AlertRoute, ...] = (
    AlertRoute(channel="discord"),
    AlertRoute(channel="pagerduty", min_severity="critical"),
    AlertRoute(channel="pagerduty", kinds=(AlertKind.RESET,)),  # the reset resolves the incident
    AlertRoute(channel="webhook", min_severity="warning"),
)


class AlertSettings(Frozen):
    """Where alerts go. Unset URLs/keys disable that channel (alerts still reach the log and ledger).

    Delivery reads the ledger's outbox: each attempt has ``timeout_s``; a failed attempt is retried after
    an exponential backoff from ``backoff_initial_s`` up to ``backoff_max_s`` (or the server's
    ``retry_after``), at most ``max_attempts`` times, then given up (an ``ALERT_GIVEN_UP`` activity row).
    """

    discord_webhook_url: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    webhook_url: SecretStr | None = None  # generic JSON webhook (one POST per alert)
    routes: tuple[AlertRoute, ...] = DEFAULT_ROUTES
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0
    max_attempts: Annotated[int, Field(ge=1, le=1000)] = 20
    backoff_initial_s: Annotated[float, Field(gt=0, le=600)] = 1.0
    backoff_max_s: Annotated[float, Field(gt=0, le=3600)] = 300.0
    mention_critical: bool = True  # @here on CRITICAL Discord messages (never on others)
    source: str = Field(default="kalshi-guard", min_length=1, max_length=255)  # PagerDuty payload.source
    trade_notices: Literal["all", "none", "digest"] = "all"  # per confirmed trade
    digest_minutes: Annotated[int, Field(ge=1, le=1440)] = 15  # with trade_notices = "digest"
    daily_summary: bool = True  # P&L, trades and kill-switch events of the UTC day, sent after it ends

    @model_validator(mode="after")
    def _backoff_order(self) -> AlertSettings:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(f"backoff_initial_s ({self.backoff_initial_s}) must be ≤ backoff_max_s "
                             f"({self.backoff_max_s})")
        return self

    def configured(self) -> tuple[str, ...]:
        """The channels whose URL or key is set."""
        found = (
            ("discord", self.discord_webhook_url),
            ("pagerduty", self.pagerduty_routing_key),
            ("webhook", self.webhook_url),
        )
        return tuple(name for name, secret in found if secret is not None and secret.get_secret_value())

    def channels_for(self, severity: str, kind: str = AlertKind.GENERAL) -> tuple[str, ...]:
        """The configured channels an alert of ``severity`` and ``kind`` is routed to (maybe none)."""
        rank = SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1
        live = self.configured()
        out: list[str] = []
        for r in self.routes:
            if r.channel in live and r.channel not in out and rank >= SEVERITIES.index(r.min_severity) and (
                not r.kinds or kind in r.kinds
            ):
                out.append(r.channel)
        return tuple(out)


class LogSettings(Frozen):
    """loguru sinks: readable stderr, JSON lines file in the state directory."""

    level: str = Field(default="INFO", pattern="^(TRACE|DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL)$")
    file_level: str = Field(default="DEBUG", pattern="^(TRACE|DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL)$")
    rotation: str = "50 MB"
    retention: Annotated[int, Field(ge=1, le=1000)] = 10


class Settings(Frozen):
    """The whole effective configuration."""

    mode: Mode = Mode.PAPER
    state_dir: Path | None = None  # None = $STATE_DIRECTORY, else ~/.local/state/kalshi-guard
    exchange: ExchangeSettings = ExchangeSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    ledger: LedgerSettings = LedgerSettings()
    limits: LimitSettings = LimitSettings()
    orders: OrderSettings = OrderSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    backup: BackupSettings = BackupSettings()
    golive: GoLiveSettings = GoLiveSettings()
    supervisor: SupervisorSettings = SupervisorSettings()
    control: ControlSettings = ControlSettings()
    guardian: GuardianSettings = GuardianSettings()
    kill: KillSettings = KillSettings()
    alerts: AlertSettings = AlertSettings()
    logging: LogSettings = LogSettings()
