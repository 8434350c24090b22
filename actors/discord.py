"""Discord webhook channel: coalesced embeds, severity colours, ``@here`` on CRITICAL only, rate-limit headers.

- The stored URL is rewritten to the versioned API (``/api/v10/webhooks/…``): the unversioned URL the
  Discord UI copies routes to a deprecated version whose ``retry_after`` is in milliseconds.
- ``wait=true``: Discord answers 200 with the message only once it is saved (204 says nothing).
- Up to 10 embeds per message, within 6,000 characters of embed text in total (budgeted with a margin);
  every embed field is trimmed to Discord's per-field limits.
- ``allowed_mentions`` is always set: ``{"parse": ["everyone"]}`` only when a CRITICAL alert carries
  ``@here``, else ``{"parse": []}`` (alert text can never ping anyone).
- 429: ``retry_after`` (seconds, float) from the body, else ``Retry-After``; ``X-RateLimit-Remaining: 0``
  with ``X-RateLimit-Reset-After`` blocks the next request until the bucket resets.
- 401/403/404 (unknown webhook, bad token) are permanent: never retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from kalshi_guard.actors.channels import (
    AlertChannel,
    Attempt,
    ChannelLimits,
    Outcome,
    body_text,
    generic_classify,
    retry_after_header,
)
from kalshi_guard.ledger.records import OutboxAlert

API_VERSION = 10
COLOURS = {"info": 0x3498DB, "warning": 0xF1C40F, "critical": 0xE74C3C}
MAX_EMBEDS = 10
TOTAL_BUDGET = 5800  # of Discord's 6,000 (code points vs UTF-16 units are not specified: keep a margin)
TITLE_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX, FOOTER_MAX, MAX_FIELDS = 256, 256, 1024, 2048, 25
USER_AGENT = "DiscordBot (https://github.com/kalshi-guard/kalshi-guard, 1)"


def normalise_webhook_url(url: str) -> str:
    """The webhook URL on the versioned API with ``wait=true``: ``…/api/webhooks/ID/TOKEN`` →
    ``…/api/v10/webhooks/ID/TOKEN?wait=true`` (an older version is replaced too; other query kept)."""
    parts = urlsplit(url.strip())
    segs = [s for s in parts.path.split("/") if s]
    if "webhooks" in segs:
        i = segs.index("webhooks")
        head = segs[:i]
        if head and head[-1].startswith("v") and head[-1][1:].isdigit():
            head = head[:-1]
        if not head or head[-1] != "api":
            head = [*head, "api"]
        segs = [*head, f"v{API_VERSION}", *segs[i:]]
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "wait"] + [("wait", "true")]
    return urlunsplit((parts.scheme, parts.netloc, "/" + "/".join(segs), urlencode(query), ""))


def _clip(text: str, limit: int) -> str:
    text = str(text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed_for(alert: OutboxAlert, budget: int = TOTAL_BUDGET) -> tuple[dict[str, Any], int]:
    """One alert as an embed and the characters it counts against the 6,000 total (at most ``budget``)."""
    title = _clip(f"[{alert.severity.upper()}] {alert.title}", TITLE_MAX)
    footer = _clip(f"kalshi-guard · alert #{alert.id}" + (f" · {alert.meta('kind')}" if alert.meta("kind") else ""),
                   FOOTER_MAX)
    used = len(title) + len(footer)
    fields = []
    for name, value in alert.shown_fields[:MAX_FIELDS]:
        n, v = _clip(name, FIELD_NAME_MAX) or "-", _clip(value, FIELD_VALUE_MAX) or "-"
        if used + len(n) + len(v) > budget:
            room = budget - used - len(n)
            if room < 8:
                break
            v = _clip(v, room)
        fields.append({"name": n, "value": v, "inline": len(v) <= 40})
        used += len(n) + len(v)
    embed = {
        "title": title,
        "color": COLOURS.get(alert.severity, COLOURS["critical"]),
        "fields": fields,
        "footer": {"text": footer},
        "timestamp": datetime.fromtimestamp(alert.created_at, UTC).isoformat(),
    }
    return embed, used


class DiscordChannel(AlertChannel):
    """A Discord webhook (the URL is a secret: it is redacted from every detail)."""

    name = "discord"
    limits = ChannelLimits(max_alerts=MAX_EMBEDS, max_chars=TOTAL_BUDGET)

    def __init__(self, url: str, *, mention_critical: bool = True, **kwargs: Any) -> None:
        super().__init__(normalise_webhook_url(url), secrets=(url,), **kwargs)
        self.mention_critical = mention_critical

    def headers(self) -> dict[str, str]:
        """JSON, and the ``DiscordBot (url, version)`` agent Discord's edge expects."""
        return {"Content-Type": "application/json", "User-Agent": USER_AGENT}

    def pack(self, due: Sequence[OutboxAlert]) -> list[OutboxAlert]:
        """The oldest alerts that fit one message: at most 10 embeds and the character budget."""
        out: list[OutboxAlert] = []
        total = 0
        for alert in due[:MAX_EMBEDS]:
            _embed, size = embed_for(alert)
            if out and total + size > TOTAL_BUDGET:
                break
            out.append(alert)
            total += size
        return out

    def build(self, alerts: Sequence[OutboxAlert]) -> dict[str, Any]:
        """Embeds (shrunk to the budget left), ``@here`` when one of them is CRITICAL, mentions pinned."""
        embeds, left = [], TOTAL_BUDGET
        for alert in alerts:
            embed, used = embed_for(alert, left)
            embeds.append(embed)
            left = max(0, left - used)
        mention = self.mention_critical and any(a.severity == "critical" for a in alerts)
        body: dict[str, Any] = {
            "username": "kalshi-guard",
            "embeds": embeds,
            "allowed_mentions": {"parse": ["everyone"]} if mention else {"parse": []},
        }
        if mention:
            body["content"] = "@here"
        return body

    def classify(self, response: httpx.Response, ids: tuple[int, ...]) -> Attempt:
        """Read the bucket headers; 429 → RETRY after ``retry_after`` seconds; 400 → DROP; else generic."""
        self._read_bucket(response)
        status = response.status_code
        if status == 429:
            retry = self._retry_after(response)
            self.blocked_until = max(self.blocked_until, self.clock() + retry)
            return Attempt(Outcome.RETRY, ids, status, f"HTTP 429 rate limited for {retry:.3f}s", retry)
        if status == 400:
            return Attempt(Outcome.DROP, ids, status, f"HTTP 400 {body_text(response)}")
        return generic_classify(response, ids)

    def _read_bucket(self, response: httpx.Response) -> None:
        h = response.headers
        try:
            if h.get("X-RateLimit-Remaining") is not None and int(float(h["X-RateLimit-Remaining"])) <= 0:
                reset_after = float(h.get("X-RateLimit-Reset-After", "1"))
                self.blocked_until = max(self.blocked_until, self.clock() + max(0.0, reset_after))
        except ValueError:
            pass

    @staticmethod
    def _retry_after(response: httpx.Response) -> float:
        try:
            value = float(response.json().get("retry_after"))
        except Exception:
            value = retry_after_header(response) or 1.0
        return max(0.0, value)
