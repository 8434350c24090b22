"""What every control-server answer passes through: the bearer check with one access line per request, and
secret scrubbing of JSON answers (a token, a key, a URL with credentials never leaves in a body).

Failures: a request without the right bearer token gets 401 (``WWW-Authenticate: Bearer``) and never reaches
a handler; an answer that cannot be serialised is a handler defect and surfaces as the server's JSON 500.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import SecretBytes, SecretStr
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kalshi_guard.control.auth import check_bearer

REDACTED = "***"
_SECRET_KEY_PARTS = (
    "token", "secret", "password", "passwd", "private_key", "privatekey", "api_key", "apikey",
    "authorization", "webhook", "routing_key", "credential",
)


# -- JSON and scrubbing ---------------------------------------------------------------------------


# Names that contain a secret-looking part but hold no secret: where the key file and the paper simulator's
# admin token file live (the operator needs them to inspect the paper exchange with any Kalshi client or to
# drive its /_sim routes; their contents never leave the files).
_NOT_SECRET = frozenset({"private_key_file", "sim_admin_token_file"})


def _secret_key(name: str) -> bool:
    low = name.lower().replace("-", "_")
    return low not in _NOT_SECRET and any(part in low for part in _SECRET_KEY_PARTS)


def scrub(value: Any, token: str | None = None) -> Any:
    """A JSON-safe copy of ``value`` with secrets removed.

    Keys that name secrets (token, password, private key, webhook, routing key, …) get ``"***"``;
    ``SecretStr`` values too; any string containing ``token`` has it replaced. Decimals become strings,
    enums their value, datetimes ISO text, dataclasses dicts. Unknown objects become ``str(obj)``
    (scrubbed as a string).
    """
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k.value if isinstance(k, Enum) else k)
            out[key] = REDACTED if _secret_key(key) and v is not None else scrub(v, token)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v, token) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return value
    if isinstance(value, Enum):
        return scrub(value.value, token)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return scrub(asdict(value), token)
    text = str(value) if not isinstance(value, str) else value
    if isinstance(value, Path):
        text = str(value)
    if token and token in text:
        text = text.replace(token, REDACTED)
    return text


class Json(JSONResponse):
    """JSON response whose content is scrubbed by the server before rendering."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


# -- auth + access log middleware ----------------------------------------------------------------


class AuthAndAccessLog:
    """Pure ASGI middleware: bearer check for non-public paths, then one loguru access line."""

    def __init__(self, app: ASGIApp, token: str, public_paths: frozenset[str]) -> None:
        self.app = app
        self.token = token
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        method: str = scope.get("method", "WS")
        client = scope.get("client")
        peer = f"{client[0]}:{client[1]}" if client else "-"
        status_holder = {"status": 0}

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = int(message["status"])
            await send(message)

        if path not in self.public_paths and not self._authorized(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                logger.info("control {} {} from {} -> ws refused (no valid token)", method, path, peer)
                return
            response = Json(
                {"error": "unauthorized", "detail": "a valid bearer token is required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="kalshi-guard"'},
            )
            await response(scope, receive, send_logged)
            logger.warning("control {} {} from {} -> 401", method, path, peer)
            return
        try:
            await self.app(scope, receive, send_logged)
        except Exception as exc:  # answered 500 JSON already (Starlette re-raises after answering)
            logger.opt(exception=exc).error("control {} {}: handler raised {}", method, path, type(exc).__name__)
        finally:
            logger.info("control {} {} from {} -> {}", method, path, peer, status_holder["status"])

    def _authorized(self, scope: Scope) -> bool:
        values = [v for k, v in scope.get("headers", []) if k == b"authorization"]
        if len(values) != 1:
            return False
        try:
            header = values[0].decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            return False
        return check_bearer(header, self.token)


