"""The bot-facing order vocabulary: request parsing, outcome↔book mapping, and the confirmation reply.

A bot thinks in outcomes ("buy NO at 0.40"); Kalshi's V2 order entry quotes everything on the YES book
(docs/kalshi.md §2.2). :func:`to_book` maps one to the other and :func:`from_book` maps back:

=========  ========  ===========  ==================
outcome    action    book side    YES-book price
=========  ========  ===========  ==================
yes        buy       bid          p
yes        sell      ask          p
no         buy       ask          1 − p
no         sell      bid          1 − p
=========  ========  ===========  ==================

Every price a bot sees (request ``price``/``reference_price``, confirmation ``average_price``, fill
``price``) is the price of the chosen outcome, never the YES-book price.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from kalshi_guard.core.errors import RequestInvalid
from kalshi_guard.core.orders import COUNT_QUANTUM as COUNT_QUANTUM  # re-exported for the API's users
from kalshi_guard.core.orders import FEE_QUANTUM as FEE_QUANTUM
from kalshi_guard.core.orders import (
    ONE,
    PRICE_QUANTUM,
    ZERO,
    Action,
    BookSide,
    Outcome,
    book_side,
    count_str,
    fee_str,
    outcome_price,
    price_str,
)
from kalshi_guard.core.orders import from_book as from_book

if TYPE_CHECKING:
    from kalshi_guard.actors.slippage import OrderSlippage

MAX_CLIENT_ORDER_ID = 64
MAX_TICKER = 100
MAX_COUNT = Decimal(1_000_000_000)  # far above any limit (limits.max_order_count <= 100,000); keeps counts small
MAX_DECIMAL_CHARS = 32

# Matched with fullmatch: ``$`` would accept a trailing newline ("1\n", "T30\n"); only ASCII digits.
_FIXED_POINT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_TICKER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)
_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)






class TimeInForce(StrEnum):
    """The bot's short names; :attr:`wire` is Kalshi's V2 spelling."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"

    @property
    def wire(self) -> str:
        """Kalshi's ``time_in_force`` value for this policy."""
        return {"gtc": "good_till_canceled", "ioc": "immediate_or_cancel", "fok": "fill_or_kill"}[self.value]

    @property
    def immediate(self) -> bool:
        """True for IOC and FOK: the create response's ``remaining_count`` is final."""
        return self is not TimeInForce.GTC


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order as a bot states it. ``price`` and ``reference_price`` are prices of ``outcome``."""

    ticker: str
    outcome: Outcome
    action: Action
    count: Decimal
    price: Decimal
    time_in_force: TimeInForce
    reference_price: Decimal | None = None
    client_order_id: str | None = None

    def describe(self) -> str:
        """The order as the bot gave it, then Kalshi's YES-book side and price as an extra:
        ``buy no KX-T 3 @ 0.6000 IOC (YES book: ask 0.4000)``."""
        side, yes_price = to_book(self)
        return (f"{self.action.value} {self.outcome.value} {self.ticker} {count_str(self.count)} @ "
                f"{price_str(self.price)} {self.time_in_force.value.upper()} (YES book: {side.value} {yes_price})")


_REQUIRED = ("ticker", "outcome", "action", "count", "price", "time_in_force")
_OPTIONAL = ("reference_price", "client_order_id")


def _decimal_string(field: str, value: Any, max_places: int) -> Decimal:
    """Parse a fixed-point decimal string; raise RequestInvalid naming ``field`` otherwise."""
    if not isinstance(value, str):
        raise RequestInvalid(field, "must be a decimal string (money and counts are never JSON numbers)")
    if len(value) > MAX_DECIMAL_CHARS or not _FIXED_POINT.fullmatch(value):
        raise RequestInvalid(field, "must be a fixed-point decimal string such as '0.4500'")
    try:
        number = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        raise RequestInvalid(field, "must be a fixed-point decimal string") from None
    if -number.as_tuple().exponent > max_places:  # type: ignore[operator]
        raise RequestInvalid(field, f"at most {max_places} decimal places")
    return number


def _price(field: str, value: Any) -> Decimal:
    """A price of an outcome: strictly between 0 and 1, at most 4 decimals."""
    price = _decimal_string(field, value, 4)
    if not ZERO < price < ONE:
        raise RequestInvalid(field, "must be strictly between 0 and 1")
    return price


def _enum(field: str, value: Any, kind: type[StrEnum]) -> Any:
    """One of the enum's values, else RequestInvalid listing the allowed ones."""
    allowed = [m.value for m in kind]  # type: ignore[attr-defined]
    if not isinstance(value, str) or value not in allowed:
        raise RequestInvalid(field, "must be one of " + ", ".join(repr(a) for a in allowed))
    return kind(value)


def parse_order_request(obj: Mapping[str, Any]) -> OrderRequest:
    """Validate a decoded JSON body into an :class:`OrderRequest`.

    Raises :class:`RequestInvalid` (field, rule) for: a body that is not an object, an unknown or
    missing field, a non-string or non-fixed-point number (a whole-string match: no trailing newline, at
    most 32 characters), count ≤ 0, above 1,000,000,000 or with more than 2 decimals, a
    price outside (0, 1) or with more than 4 decimals, a bad enum value, a malformed ticker, or a
    client_order_id that is empty, longer than 64 characters or not ``[A-Za-z0-9_-]``. Nothing else
    is checked here: whether the market exists and the price sits on its tick grid is pre-trade work.
    """
    if not isinstance(obj, Mapping):
        raise RequestInvalid("body", "must be a JSON object")
    for key in obj:
        if key not in _REQUIRED and key not in _OPTIONAL:
            name = key if isinstance(key, str) else repr(key)
            raise RequestInvalid(name[:64], "unknown field")
    for key in _REQUIRED:
        if key not in obj:
            raise RequestInvalid(key, "is required")

    ticker = obj["ticker"]
    if not isinstance(ticker, str) or not ticker:
        raise RequestInvalid("ticker", "must be a non-empty string")
    if len(ticker) > MAX_TICKER or not _TICKER.fullmatch(ticker):
        raise RequestInvalid("ticker", f"must be at most {MAX_TICKER} characters of [A-Za-z0-9._-]")

    count = _decimal_string("count", obj["count"], 2)
    if count <= 0:
        raise RequestInvalid("count", "must be positive")
    if count > MAX_COUNT:
        raise RequestInvalid("count", f"at most {MAX_COUNT:,}")

    reference = obj.get("reference_price")
    client_order_id = obj.get("client_order_id")
    if client_order_id is not None:
        if not isinstance(client_order_id, str) or not client_order_id:
            raise RequestInvalid("client_order_id", "must be a non-empty string")
        if len(client_order_id) > MAX_CLIENT_ORDER_ID:
            raise RequestInvalid("client_order_id", f"at most {MAX_CLIENT_ORDER_ID} characters")
        if not _CLIENT_ORDER_ID.fullmatch(client_order_id):
            raise RequestInvalid("client_order_id", "only letters, digits, '-' and '_'")

    return OrderRequest(
        ticker=ticker,
        outcome=_enum("outcome", obj["outcome"], Outcome),
        action=_enum("action", obj["action"], Action),
        count=count,
        price=_price("price", obj["price"]),
        time_in_force=_enum("time_in_force", obj["time_in_force"], TimeInForce),
        reference_price=None if reference is None else _price("reference_price", reference),
        client_order_id=client_order_id,
    )






def to_book(req: OrderRequest) -> tuple[BookSide, Decimal]:
    """Map a request to Kalshi's (book side, YES-book limit price); e.g. buy NO at 0.40 → (ask, 0.6000)."""
    return book_side(req.outcome, req.action), outcome_price(req.outcome, req.price).quantize(PRICE_QUANTUM)




class ConfirmationStatus(StrEnum):
    """The outcome reported to the caller.

    FILLED: everything filled. PARTIAL: some filled, accepted at the threshold (or the exchange ended
    the remainder, as for IOC/FOK), rest cancelled. CANCELED: cancelled before the threshold (fills kept and reported).
    REJECTED: a definitive "no"; nothing filled. TIMEOUT: the confirmation timeout cancelled the
    remainder; fills were re-read and are reported. UNKNOWN: the exchange's state could not be
    established yet; the order counts at full size until it is.
    """

    FILLED = "FILLED"
    PARTIAL = "PARTIAL"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    TIMEOUT = "TIMEOUT"
    UNKNOWN = "UNKNOWN"








@dataclass(frozen=True, slots=True)
class FillDetail:
    """One booked fill as the caller sees it; ``price`` is the outcome's price."""

    trade_id: str
    count: Decimal
    price: Decimal
    fee: Decimal
    is_taker: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """Decimal strings, like the rest of the reply."""
        return {
            "trade_id": self.trade_id,
            "count": count_str(self.count),
            "price": price_str(self.price),
            "fee": fee_str(self.fee),
        }


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The reply to a bot: what happened to its order.

    ``average_price`` is the count-weighted average of the fills in the outcome's price (None without
    fills); it is exact in memory and rounded half-even to 4 decimals on the wire. ``fees`` is the sum
    of the fills' fees. ``latency_ms`` runs from the request (tracker creation) to this reply.
    ``remaining_count`` is what may still fill, as the ledger reports it: 0 once the order has ended
    (FILLED, PARTIAL, CANCELED, TIMEOUT, REJECTED), the unfilled rest while it is UNKNOWN.
    ``unfilled_count`` is what did not fill (count − filled); ``reason`` says why when it is not 0.
    """

    status: ConfirmationStatus
    order_id: str | None
    client_order_id: str | None
    filled_count: Decimal
    remaining_count: Decimal
    average_price: Decimal | None
    fees: Decimal
    slippage: OrderSlippage | None
    latency_ms: int | None
    reason: str | None = None
    detail: str | None = None
    fills: tuple[FillDetail, ...] = ()
    unfilled_count: Decimal | None = None  # count − filled (None = all of remaining_count)

    @classmethod
    def rejected(
        cls,
        reason: str,
        detail: str,
        *,
        client_order_id: str | None = None,
        count: Decimal = ZERO,
        latency_ms: int | None = None,
    ) -> Confirmation:
        """A REJECTED confirmation: nothing filled, ``reason`` is a stable code, ``detail`` for humans."""
        return cls(
            status=ConfirmationStatus.REJECTED,
            order_id=None,
            client_order_id=client_order_id,
            filled_count=ZERO,
            remaining_count=ZERO,
            average_price=None,
            fees=ZERO,
            slippage=None,
            latency_ms=latency_ms,
            reason=reason,
            detail=detail,
            unfilled_count=count,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON reply: counts 2 dp, prices 4 dp, fees 6 dp, all strings; ``reason`` only when set."""
        out: dict[str, Any] = {
            "status": self.status.value,
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "filled_count": count_str(self.filled_count),
            "remaining_count": count_str(self.remaining_count),
            "unfilled_count": count_str(self.remaining_count if self.unfilled_count is None else self.unfilled_count),
            "average_price": None if self.average_price is None else price_str(self.average_price),
            "fees": fee_str(self.fees),
            "slippage": None if self.slippage is None else self.slippage.to_json(),
            "latency_ms": self.latency_ms,
        }
        if self.reason is not None:
            out["reason"] = self.reason
            out["detail"] = self.detail
        if self.fills:
            out["fills"] = [f.to_json() for f in self.fills]
        return out
