"""The one error hierarchy of kalshi-guard.

Every error the daemon raises on purpose derives from :class:`GuardError`::

    GuardError
     ├── ConfigError                 bad configuration; the daemon exits 78 (EX_CONFIG)
     ├── LedgerError                 the database refused or lost a write
     ├── GateClosedError             an order was refused because the trading gate is not ACTIVE
     ├── PreTradeRejected            a pre-trade check refused an order (carries a reason code)
     ├── ReconcileError              the ledger and the exchange disagree in a way we cannot fix alone
     ├── SupervisorEscalation        restart intensity exceeded; the tree stops and the process exits non-zero
     └── ExchangeError               anything the exchange (or the path to it) said
          ├── Rejected               a definitive "no" with Kalshi's ``error.code`` (nothing was done)
          ├── NotFoundError          the object does not exist (404)
          ├── RateLimited            429; nothing was done; retry after ``retry_after`` seconds
          ├── AuthError              401/403: key, signature or clock problem
          └── Ambiguous              the outcome is unknown (timeout, reset, 5xx, 2xx without the object,
                                     unparseable body): the request MAY have taken effect

None of these derive from ``BaseException`` directly: in pykka a ``BaseException`` raised in any actor
stops every actor (docs/architecture.md §3).
"""

from __future__ import annotations


class GuardError(Exception):
    """Root of every error kalshi-guard raises deliberately."""


class ConfigError(GuardError):
    """The configuration is invalid.

    ``problems`` holds one human line per problem (key path, value, what is allowed).
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class LedgerError(GuardError):
    """The ledger could not complete an operation; nothing partial was committed."""


class GateClosedError(GuardError):
    """The trading gate refused an order; ``state`` and ``reason`` say why."""

    def __init__(self, state: str, reason: str) -> None:
        self.state = state
        self.reason = reason
        super().__init__(f"trading gate is {state}: {reason}")


class PreTradeRejected(GuardError):
    """A pre-trade check refused an order before anything was written or sent."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


class ReconcileError(GuardError):
    """Reconciliation could not establish the exchange's state (fetch failed or evidence conflicts).

    ``discrepancies`` holds the standing findings (JSON rows) when there were any."""

    def __init__(self, message: str, discrepancies: tuple[dict[str, object], ...] = ()) -> None:
        super().__init__(message)
        self.discrepancies = discrepancies


class SupervisorEscalation(GuardError):
    """A child restarted more often than the configured intensity allows."""


class GateNotHaltedError(GuardError):
    """A reset was asked for while the gate is not HALTED (or REDUCING): there is nothing to lift (409)."""


class ExchangeError(GuardError):
    """Base of everything the exchange client raises.

    ``status`` is the HTTP status (or ``None`` without a response), ``code`` Kalshi's ``error.code``
    where the body carried one, ``body`` the raw text (already free of secrets: bodies never echo keys).
    """

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, body: str = ""
    ) -> None:
        self.status = status
        self.code = code
        self.body = body
        super().__init__(message)


class Rejected(ExchangeError):
    """A definitive rejection: the exchange did not act on the request."""


class NotFoundError(ExchangeError):
    """The object does not exist on the exchange (404)."""


class RateLimited(ExchangeError):
    """429 from the exchange (or our own bucket); nothing was done."""

    def __init__(self, message: str, *, retry_after: float = 1.0, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class AuthError(ExchangeError):
    """401/403: the key, the signature or the clock is wrong."""


class Ambiguous(ExchangeError):
    """The request may or may not have taken effect; only exchange evidence can tell."""


class RequestInvalid(GuardError):
    """An order request is malformed or out of range; nothing was written or sent (an HTTP 4xx).

    ``field`` names the offending field (``"body"`` for the whole request) and ``rule`` the rule it broke.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class AlertDeliveryError(GuardError):
    """An alert channel cannot deliver. ``permanent``: retrying cannot help (a 401/404 webhook, a rejected
    routing key); the channel stops and says so in the log. The message never holds a URL or key."""

    def __init__(self, channel: str, detail: str, *, permanent: bool) -> None:
        self.channel = channel
        self.detail = detail
        self.permanent = permanent
        super().__init__(f"{channel}: {detail}")
