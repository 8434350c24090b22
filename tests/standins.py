"""Loopback stand-ins for the services we do not own: a Discord webhook and PagerDuty Events v2.

They enforce the documented contracts (limits, status codes, bodies) so that tests show our channels
obey them. Time windows scale with ``scale`` (1.0 = the real limits) so that a burst test does not take
minutes of wall time; every request is recorded for the test to inspect.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    """One request as the stand-in saw it, and what it answered."""

    path: str
    query: str
    headers: dict[str, str]
    body: Any
    status: int
    at: float = field(default_factory=time.monotonic)


class StandIn:
    """A threaded HTTP server on 127.0.0.1:0; subclasses implement :meth:`answer`."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.fail_next: deque[int] = deque()  # statuses to answer first, whatever the request
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, _, query = self.path.partition("?")
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                with outer.cond:
                    status, headers, answer = outer.answer(path, query, dict(self.headers), body)
                    outer.seen.append(Seen(path, query, dict(self.headers), body, status))
                    outer.cond.notify_all()
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, query: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        """Wait (on the condition, no sleeping) until ``predicate(self)`` holds; False on timeout."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout)


class Window:
    """A sliding window: at most ``limit`` events per ``span`` seconds."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit, self.span = limit, span
        self.events: deque[float] = deque()

    def room(self, now: float) -> tuple[int, float]:
        """(events still allowed now, seconds until the oldest leaves the window)."""
        while self.events and now - self.events[0] >= self.span:
            self.events.popleft()
        reset = self.span - (now - self.events[0]) if self.events else 0.0
        return self.limit - len(self.events), max(0.0, reset)


EMBED_TEXT = (("title", 256), ("description", 4096))


def discord_body_problems(body: Any) -> list[str]:
    """Discord's documented body and embed limits; any problem is a 400 / 50035."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = []
    embeds = body.get("embeds") or []
    if not body.get("content") and not embeds:
        problems.append("50006 empty message")
    if len(body.get("content") or "") > 2000:
        problems.append("content > 2000")
    if len(embeds) > 10:
        problems.append("more than 10 embeds")
    total = 0
    for e in embeds:
        for key, limit in EMBED_TEXT:
            text = (e.get(key) or "").strip()
            if len(text) > limit:
                problems.append(f"{key} > {limit}")
            total += len(text)
        fields = e.get("fields") or []
        if len(fields) > 25:
            problems.append("more than 25 fields")
        for f in fields:
            name, value = str(f.get("name", "")).strip(), str(f.get("value", "")).strip()
            if not name or not value or len(name) > 256 or len(value) > 1024:
                problems.append("field name/value empty or too long")
            total += len(name) + len(value)
        footer = ((e.get("footer") or {}).get("text") or "").strip()
        if len(footer) > 2048:
            problems.append("footer > 2048")
        total += len(footer) + len(((e.get("author") or {}).get("name") or "").strip())
    if total > 6000:
        problems.append(f"embeds total {total} > 6000")
    am = body.get("allowed_mentions")
    if am is not None and "parse" in am and (am.get("users") or am.get("roles")):
        problems.append("allowed_mentions parse with id lists")
    return problems


class DiscordStandIn(StandIn):
    """A Discord webhook: 5 requests per 2 s per webhook (announced in the bucket headers), 30 per 60 s per
    channel (hidden, answered with 429), body/embed limits (400/50035), 404/10015 for an unknown webhook,
    and the unversioned-URL pitfall (``/api/webhooks/…``: v6 behaviour, ``retry_after`` in milliseconds)."""

    WEBHOOK_ID, TOKEN = "1234567890", "PLANTEDwebhookTOKENabcdefghijklmnopqrstuvwxyz0123456789"

    def __init__(self, scale: float = 1.0, per_webhook: int = 5, per_channel: int = 30) -> None:
        super().__init__()
        self.scale = scale
        self.webhook = Window(per_webhook, 2.0 * scale)
        self.channel = Window(per_channel, 60.0 * scale)
        self.accepted: list[float] = []
        self.bad_bodies: list[list[str]] = []
        self.hidden_429 = 0  # 429 from the channel limit (not announced in headers)
        self.bucket_429 = 0  # 429 from the announced per-webhook bucket (the client ignored the headers)

    @property
    def url(self) -> str:
        """The URL as the Discord UI copies it (unversioned)."""
        return f"http://127.0.0.1:{self.port}/api/webhooks/{self.WEBHOOK_ID}/{self.TOKEN}"

    def answer(self, path: str, query: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if self.fail_next:
            return self.fail_next.popleft(), {}, {"message": "injected", "code": 0}
        parts = [p for p in path.split("/") if p]
        versioned = len(parts) == 5 and parts[0] == "api" and parts[1] in ("v8", "v9", "v10")
        legacy = len(parts) == 4 and parts[0] == "api"
        hook = parts[-2:] if versioned or legacy else []
        if hook != [self.WEBHOOK_ID, self.TOKEN] or parts[-3] != "webhooks":
            return 404, {}, {"message": "Unknown Webhook", "code": 10015}
        now = time.monotonic()
        left, reset = self.webhook.room(now)
        if left <= 0:
            self.bucket_429 += 1
            return self._429(reset, legacy, "user")
        c_left, c_reset = self.channel.room(now)
        if c_left <= 0:
            self.hidden_429 += 1
            return self._429(c_reset, legacy, "shared")
        problems = discord_body_problems(body)
        if problems:
            self.bad_bodies.append(problems)
            return 400, {}, {"message": "Invalid Form Body", "code": 50035, "errors": {"_errors": problems}}
        self.webhook.events.append(now)
        self.channel.events.append(now)
        self.accepted.append(now)
        left, reset = self.webhook.room(now)
        reset = math.ceil(reset * 1000) / 1000 + 0.001
        bucket = {"X-RateLimit-Limit": str(self.webhook.limit), "X-RateLimit-Remaining": str(left),
                  "X-RateLimit-Reset-After": f"{reset:.3f}", "X-RateLimit-Bucket": "standin-bucket"}
        if legacy or "wait=true" not in query:
            return 204, bucket, None
        return 200, bucket, {"id": str(len(self.accepted)), "embeds": body.get("embeds", [])}

    def _429(self, reset: float, legacy: bool, scope: str) -> tuple[int, dict[str, str], Any]:
        reset = math.ceil(reset * 1000) / 1000 + 0.001  # rounded up: waiting retry_after is always enough
        retry = reset * 1000 if legacy else reset  # the pitfall: v6 speaks milliseconds
        headers = {"Retry-After": str(max(1, round(reset))), "X-RateLimit-Scope": scope,
                   "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": f"{reset:.3f}"}
        return 429, headers, {"message": "You are being rate limited.", "retry_after": round(retry, 3),
                              "global": False}

    def messages(self) -> list[Seen]:
        return [s for s in self.seen if s.status in (200, 204)]

    def embeds(self) -> list[dict[str, Any]]:
        return [e for s in self.messages() for e in s.body.get("embeds", [])]

    def max_in_window(self, span: float) -> int:
        """The most accepted requests found in any window of ``span`` seconds."""
        best, times = 0, self.accepted
        j = 0
        for i, t in enumerate(times):
            while t - times[j] >= span:
                j += 1
            best = max(best, i - j + 1)
        return best


class PagerDutyStandIn(StandIn):
    """PagerDuty Events v2 ``/v2/enqueue``: validates the event (400 ``invalid event``), 202 with the
    dedup_key, 120 events per 60 s per routing key (429), incidents opened and resolved by dedup_key."""

    ROUTING_KEY = "PLANTEDroutingKEY0123456789abcde"  # 32 characters

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.window = Window(120, 60.0 * scale)
        self.open: set[str] = set()
        self.events: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/enqueue"

    def answer(self, path: str, query: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if self.fail_next:
            return self.fail_next.popleft(), {}, {"status": "error", "message": "injected"}
        if path != "/v2/enqueue":
            return 404, {}, {"status": "not found"}
        errors = pd_event_problems(body)
        if errors:
            return 400, {}, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        left, _reset = self.window.room(time.monotonic())
        if left <= 0:
            return 429, {}, {"status": "throttle event", "message": "Requests for this service are throttled"}
        self.window.events.append(time.monotonic())
        dedup = body.get("dedup_key") or f"generated-{len(self.events)}"
        action = body["event_action"]
        if action == "trigger":
            self.open.add(dedup)
        elif action == "resolve":
            self.open.discard(dedup)
        self.events.append(body)
        return 202, {}, {"status": "success", "message": "Event processed", "dedup_key": dedup}

    def of(self, action: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_action"] == action]


def pd_event_problems(body: Any) -> list[str]:
    """The Events v2 contract."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = []
    if len(str(body.get("routing_key", ""))) != 32:
        problems.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("'event_action' is invalid")
    if len(str(body.get("dedup_key") or "")) > 255:
        problems.append("'dedup_key' is too long")
    if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
        problems.append("'dedup_key' is required")
    if action == "trigger":
        p = body.get("payload") or {}
        if not p.get("summary") or len(p["summary"]) > 1024:
            problems.append("'payload.summary' is missing or too long")
        if not p.get("source"):
            problems.append("'payload.source' is missing")
        if p.get("severity") not in ("critical", "error", "warning", "info"):
            problems.append("'payload.severity' is invalid")
    return problems


class WebhookStandIn(StandIn):
    """A generic JSON receiver: 200 for any object."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/PLANTEDgenericHOOKsecret0123"

    def answer(self, path: str, query: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if self.fail_next:
            return self.fail_next.popleft(), {}, {"error": "injected"}
        return (200, {}, {"ok": True}) if isinstance(body, dict) else (400, {}, {"error": "not JSON"})
