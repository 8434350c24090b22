"""One classification of Kalshi answers and transport failures into the ``actors.errors`` exchange classes.

Table (docs/kalshi.md §4): 2xx → no error; 404 → NotFoundError; 429 → RateLimited; 401/403 → AuthError;
other 4xx → Rejected(code); 5xx → Ambiguous (except the few codes that prove nothing was done, which are
Rejected); any transport failure (timeout, reset, protocol error) → Ambiguous. Four error-body shapes are
read: nested ``{"error": {"code", "message", …}}``, flat ``{"code", "message"}``, bare ``{"msg": …}``
and the 429 ``{"error": "too many requests"}`` string; anything else (HTML, empty) has no code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from kalshi_guard.core.errors import Ambiguous, AuthError, ExchangeError, NotFoundError, RateLimited, Rejected

# Codes that prove the exchange refused the operation even when they ride on a 5xx status (docs/kalshi.md §7.2).
DEFINITIVE_CODES = frozenset({"MARKET_INACTIVE", "market_closed", "trading_is_paused", "exchange_paused"})
MAX_BODY = 500


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What an error body said: Kalshi's code (None when it carried none), its message, the shape seen."""

    code: str | None
    message: str
    shape: str  # "nested" | "flat" | "msg" | "string" | "none"


def parse_error_body(text: str) -> ErrorBody:
    """Read any of the four error shapes; never raises (a non-JSON body yields shape ``none``)."""
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        return ErrorBody(None, _snippet(text), "none")
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return ErrorBody(_str(err.get("code")), _str(err.get("message")) or "", "nested")
        if isinstance(err, str):
            return ErrorBody(None, err, "string")
        if isinstance(data.get("code"), str):
            return ErrorBody(data["code"], _str(data.get("message")) or "", "flat")
        if isinstance(data.get("msg"), str):
            return ErrorBody(None, data["msg"], "msg")
    return ErrorBody(None, _snippet(text), "none")


def classify_status(status: int, text: str, retry_after: str | None = None) -> ExchangeError | None:
    """The error for an HTTP status and body, or None for 2xx (a 2xx body is checked by the parser)."""
    if 200 <= status < 300:
        return None
    body = parse_error_body(text)
    raw = _snippet(text)
    what = f"HTTP {status}" + (f" {body.code}" if body.code else "") + (f": {body.message}" if body.message
                                                                       else "")
    if status == 429:
        return RateLimited(what, retry_after=_retry_after(retry_after), status=status, code=body.code, body=raw)
    if status in (401, 403):
        return AuthError(what, status=status, code=body.code, body=raw)
    if status == 404:
        return NotFoundError(what, status=status, code=body.code, body=raw)
    if status >= 500:
        if body.code in DEFINITIVE_CODES:
            return Rejected(what, status=status, code=body.code, body=raw)
        return Ambiguous(what, status=status, code=body.code, body=raw)
    if 400 <= status < 500:
        return Rejected(what, status=status, code=body.code, body=raw)
    return Ambiguous(what, status=status, code=body.code, body=raw)  # 1xx/3xx: not an answer we understand


def classify_response(resp: httpx.Response) -> ExchangeError | None:
    """Classify an httpx response (None for 2xx). A 2xx body is not decoded here: the parser reads its bytes,
    and a page of fills decoded to text as well held twice its size for nothing."""
    if 200 <= resp.status_code < 300:
        return None
    return classify_status(resp.status_code, resp.text, resp.headers.get("retry-after"))


def classify_exception(exc: BaseException, what: str = "request") -> ExchangeError:
    """Classify a transport failure: everything is Ambiguous (the request may have reached the exchange).

    A refused connection cannot have reached it either, but "unknown" is the safe reading and costs
    only a reconciliation; the message says which failure it was.
    """
    if isinstance(exc, ExchangeError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        kind = "timed out"
    elif isinstance(exc, httpx.ConnectError):
        kind = "could not connect (not sent)"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        kind = "connection reset or broken"
    else:
        kind = "transport failure"
    return Ambiguous(f"{what} {kind}: {type(exc).__name__}")


def classify(outcome: httpx.Response | BaseException, what: str = "request") -> ExchangeError | None:
    """The one entry point: a response (None when 2xx) or a transport exception, as an ExchangeError."""
    if isinstance(outcome, httpx.Response):
        return classify_response(outcome)
    return classify_exception(outcome, what)


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _snippet(text: str) -> str:
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + "…"
