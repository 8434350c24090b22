"""The alert-channel interface: one place to add a way of reaching people.

A channel turns a batch of outbox alerts into one request and says what the server answered as an
:class:`Attempt`: SENT, RETRY (after ``retry_after`` seconds, or the worker's backoff), DROP (this
message can never be accepted: given up, the channel goes on) or PERMANENT (the channel itself is
unusable: 401/403/404; it stops and raises :class:`~kalshi_guard.core.errors.AlertDeliveryError` locally).
Channels never raise for what a server answers, and never put their URL or key in a detail text: every
detail goes through :meth:`AlertChannel.redact`.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from kalshi_guard.exchange.tls import shared_tls_context
from kalshi_guard.ledger.records import OutboxAlert

MASK = "**********"


class Outcome(StrEnum):
    """What one request achieved."""

    SENT = "sent"
    RETRY = "retry"
    DROP = "drop"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class Attempt:
    """The answer to one request carrying ``ids``. ``status`` is the HTTP status (0: no answer)."""

    outcome: Outcome
    ids: tuple[int, ...]
    status: int
    detail: str
    retry_after: float | None = None  # seconds, from the server (429 body or Retry-After)


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    """What one request may carry."""

    max_alerts: int  # alerts per request
    max_chars: int = 0  # a size budget per request in the channel's own measure (0: none)


class AlertChannel(ABC):
    """Base of every channel. Subclasses set ``name`` and ``limits`` and implement :meth:`build` and
    :meth:`classify`; the base does the HTTP (one ``httpx.Client`` with ``timeout_s``) and the redaction."""

    name: str = "channel"
    limits: ChannelLimits = ChannelLimits(max_alerts=1)

    def __init__(
        self,
        url: str,
        *,
        secrets: Sequence[str] = (),
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.clock = clock
        self._secrets = [s for s in (url, *secrets) if s]
        self._client = httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=False, trust_env=False,
                                    verify=shared_tls_context())
        self.blocked_until = 0.0  # a rate-limit bucket told us to wait (clock seconds)

    # -- to implement -------------------------------------------------------------------------------

    @abstractmethod
    def build(self, alerts: Sequence[OutboxAlert]) -> dict[str, Any]:
        """The JSON body carrying ``alerts`` (as many as :meth:`pack` chose)."""

    @abstractmethod
    def classify(self, response: httpx.Response, ids: tuple[int, ...]) -> Attempt:
        """What the server's answer means (including which statuses are permanent)."""

    # -- shared -------------------------------------------------------------------------------------

    def pack(self, due: Sequence[OutboxAlert]) -> list[OutboxAlert]:
        """The alerts of the next request: the oldest ``limits.max_alerts`` of ``due``."""
        return list(due[: self.limits.max_alerts])

    def skip(self, alert: OutboxAlert) -> str | None:
        """A reason why ``alert`` needs no request on this channel (it is marked sent), or None."""
        return None

    def request_url(self) -> str:
        """The URL each request goes to (a channel may add query parameters)."""
        return self.url

    def headers(self) -> dict[str, str]:
        """Request headers."""
        return {"Content-Type": "application/json", "User-Agent": "kalshi-guard"}

    def send(self, alerts: Sequence[OutboxAlert]) -> Attempt:
        """POST one request for ``alerts``. Never raises: a network failure or timeout is RETRY."""
        ids = tuple(a.id for a in alerts)
        try:
            response = self._client.post(self.request_url(), json=self.build(alerts), headers=self.headers())
        except httpx.TimeoutException:
            return Attempt(Outcome.RETRY, ids, 0, "timed out")
        except httpx.HTTPError as exc:
            return Attempt(Outcome.RETRY, ids, 0, f"network error ({type(exc).__name__})")
        attempt = self.classify(response, ids)
        return Attempt(attempt.outcome, ids, attempt.status, self.redact(attempt.detail), attempt.retry_after)

    def redact(self, text: str) -> str:
        """``text`` with this channel's URL, key and the URL's long path segments replaced by a mask."""
        for secret in self._secrets:
            for part in {secret, *(seg for seg in secret.split("/") if len(seg) >= 16)}:
                text = text.replace(part, MASK)
        return text

    def close(self) -> None:
        """Close the HTTP client (never raises)."""
        with contextlib.suppress(Exception):  # closing must not mask a stop
            self._client.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def body_text(response: httpx.Response, limit: int = 200) -> str:
    """A short, single-line excerpt of a response body for error details."""
    try:
        text = response.text
    except Exception:
        return ""
    return " ".join(text.split())[:limit]


def retry_after_header(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, when present and numeric."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def generic_classify(response: httpx.Response, ids: tuple[int, ...]) -> Attempt:
    """The common HTTP meaning: 2xx sent; 401/403/404/410 permanent; 408/429/5xx retry; other 4xx drop."""
    status = response.status_code
    detail = f"HTTP {status} {body_text(response)}".strip()
    if 200 <= status < 300:
        return Attempt(Outcome.SENT, ids, status, f"HTTP {status}")
    if status in (401, 403, 404, 410):
        return Attempt(Outcome.PERMANENT, ids, status, detail)
    if status in (408, 429) or status >= 500:
        return Attempt(Outcome.RETRY, ids, status, detail, retry_after_header(response))
    return Attempt(Outcome.DROP, ids, status, detail)
