"""Request bodies of the control API: a size cap enforced while reading, and JSON parsed within a depth.

- :class:`BodyCap` is ASGI middleware. It reads a request's body chunk by chunk, counting, and answers
  ``413`` (JSON) as soon as the body announces (``Content-Length``) or reaches more than ``limit`` bytes;
  it never holds more than ``limit`` bytes. A body within the cap is replayed to the app unchanged. On the
  *always* paths (the emergency stop) an oversized body is not refused: the app gets an empty body and
  ``request.state.body_error`` saying why, because an emergency stop never fails on its paperwork.
- :func:`parse_json` decodes a body and answers a problem text instead of raising: invalid JSON, invalid
  UTF-8, or nesting deeper than :data:`MAX_DEPTH` (checked before decoding, so a 100,000-level body never
  reaches the recursive decoder and its ``RecursionError``).
- :func:`clean_reason` makes an operator's free text safe to log, store and echo: control characters
  escaped, secrets masked, length bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kalshi_guard.control.logs import escape_controls, mask_secrets

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_REASON_CHARS = 500
REDACTED = "***"
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests arrays/objects more than ``limit`` levels (strings ignored).

    Works on malformed text too (then the decoder reports the real problem); never raises.
    """
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def parse_json(raw: bytes) -> tuple[Any, str | None]:
    """``(value, None)`` for a JSON body (``None`` when the body is blank), else ``(None, problem)``.

    Never raises: a body nested more than :data:`MAX_DEPTH` levels, invalid JSON and invalid UTF-8 each
    come back as a problem text fit for a 400 answer.
    """
    if not raw.strip():
        return None, None
    if too_deep(raw):
        return None, f"body is nested more than {MAX_DEPTH} levels"
    try:
        return json.loads(raw), None
    except RecursionError:  # pragma: no cover - too_deep() stops these first
        return None, f"body is nested more than {MAX_DEPTH} levels"
    except (ValueError, UnicodeDecodeError):
        return None, "body is not valid JSON"


def clean_reason(text: str, token: str | None = None) -> str:
    """Operator free text (a stop or reset reason) made safe: ``token`` and every registered secret masked,
    control characters (NUL, ESC, CR/LF, …) escaped as ``\\xNN``, at most :data:`MAX_REASON_CHARS`."""
    if token:
        text = text.replace(token, REDACTED)
    text = escape_controls(mask_secrets(text.strip()))
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


class BodyTooLarge(Exception):
    """A request body went over the cap while being read."""


class BodyCap:
    """ASGI middleware: cap HTTP request bodies at ``limit`` bytes (see the module docstring)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, always: Iterable[str] = ()) -> None:
        self.app = app
        self.limit = limit
        self.always = frozenset(always)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pending: list[Message] = []
        try:
            body = await self._read(scope, receive, pending)
        except BodyTooLarge:
            problem = f"body larger than {self.limit} bytes"
            if scope.get("path") not in self.always:
                await _send_json(send, 413, {"error": problem, "limit": self.limit})
                return
            scope.setdefault("state", {})["body_error"] = problem
            body = b""
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            if pending:  # the client went away while we read
                return pending.pop()
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive, pending: list[Message]) -> bytes:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = 0
                if announced > self.limit:
                    raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                pending.append(message)  # the client went away; the app sees what arrived, then this
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    payload = json.dumps(content, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})
