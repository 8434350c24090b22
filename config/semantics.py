"""The checks a settings schema cannot express: cross-field rules, URLs, the key file, the ledger URL and log
rotation. Each problem is one line naming the key (``exchange.base_url: … — must …``); secrets are shown masked.

Failures: nothing raises here; the loader turns a non-empty list into a ``ConfigError`` (exit 78).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from kalshi_guard.config.exposure import exposure_problems
from kalshi_guard.config.schema import Environment, Mode, Settings
from kalshi_guard.config.shares import Share
from kalshi_guard.core.errors import ConfigError

MASK = "**********"
MIN_TOKEN_LEN = 16
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def show_value(value: Any, *, secret: bool = False) -> str:
    """A value as it appears in a problem line: ``repr``, shortened; ``'**********'`` for secrets."""
    if secret:
        return repr(MASK)
    text = repr(str(value)) if isinstance(value, Path) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _url_problem(key: str, url: str, schemes: tuple[str, ...], *, secret: bool, need_tls: bool) -> list[str]:
    """Problems with a URL setting: wrong scheme, no host, or plain text to a non-loopback host."""
    parts = urlsplit(url)
    shown = show_value(url, secret=secret)
    if parts.scheme not in schemes or not parts.hostname:
        return [f"{key}: {shown} — must be a {' or '.join(s + '://' for s in schemes)} URL with a host"]
    if need_tls and parts.scheme in ("http", "ws") and parts.hostname not in _LOOPBACK:
        return [f"{key}: {shown} — must use {schemes[1]}:// (plain text is allowed only to loopback)"]
    return []


def semantic_problems(s: Settings) -> list[str]:
    """Cross-field and file-system checks the schema cannot express."""
    from kalshi_guard.exchange.keys import key_file_problems, load_private_key

    problems: list[str] = []
    ex = s.exchange
    if s.mode is Mode.LIVE:
        if not ex.key_id:
            problems.append("exchange.key_id: missing — required when mode = 'live' (your Kalshi API key id)")
        if ex.private_key_file is None:
            problems.append("exchange.private_key_file: missing — required when mode = 'live' (a PEM file, "
                            "or the systemd credential 'kalshi-private-key')")
        if ex.environment is Environment.SIMULATOR:
            problems.append("exchange.environment: 'simulator' — mode = 'live' needs 'demo' or 'production'")
    elif ex.environment is not Environment.SIMULATOR:
        problems.append(f"exchange.environment: {ex.environment.value!r} — mode = 'paper' trades only against a "
                        "simulator (set mode = 'live' for demo or production)")
    elif ex.base_url is not None and (not ex.key_id or ex.private_key_file is None):
        problems.append("exchange.key_id / exchange.private_key_file: required with exchange.base_url in paper "
                        "mode (an external simulator: see the key id and key file `kalshi-guard sim` prints)")
    if ex.private_key_file is not None:
        found = key_file_problems(ex.private_key_file)
        if not found:
            try:
                load_private_key(ex.private_key_file)
            except ConfigError as exc:
                found = exc.problems
            except OSError as exc:
                found = [f"exchange.private_key_file: {str(ex.private_key_file)!r} cannot be read "
                         f"({exc.strerror or type(exc).__name__})"]
        problems.extend(found)
    if ex.base_url is not None:
        problems += _url_problem("exchange.base_url", ex.base_url, ("http", "https"), secret=False, need_tls=True)
    if ex.ws_url is not None:
        problems += _url_problem("exchange.ws_url", ex.ws_url, ("ws", "wss"), secret=False, need_tls=True)
    live = s.golive.exchange
    if live is not None and live.environment is Environment.SIMULATOR:
        problems.append("golive.exchange.environment: 'simulator' — the live switch needs 'demo' or 'production'")
    if live is not None and (not live.key_id or live.private_key_file is None):
        problems.append("golive.exchange: key_id and private_key_file are required (the live account's key)")
    lim = s.limits
    for small, big in (("max_order_loss", "max_market_exposure"), ("max_market_exposure", "max_event_exposure"),
                       ("max_event_exposure", "max_total_exposure")):
        a, b = getattr(lim, small), getattr(lim, big)
        if not isinstance(a, Share) and a > b:  # a share's dollars are known only at the day anchor
            problems.append(f"limits.{small}: {show_value(str(a))} — must be ≤ limits.{big} ({b})")
    sup = s.supervisor
    if sup.backoff_initial_s > sup.backoff_max_s:
        problems.append(f"supervisor.backoff_initial_s: {sup.backoff_initial_s!r} — must be ≤ "
                        f"supervisor.backoff_max_s ({sup.backoff_max_s})")
    if sup.heartbeat_interval_s >= sup.heartbeat_timeout_s:
        problems.append(f"supervisor.heartbeat_interval_s: {sup.heartbeat_interval_s!r} — must be < "
                        f"supervisor.heartbeat_timeout_s ({sup.heartbeat_timeout_s})")
    for key in ("discord_webhook_url", "webhook_url"):
        if (hook := getattr(s.alerts, key)) is not None:
            problems += _url_problem(f"alerts.{key}", hook.get_secret_value(), ("http", "https"), secret=True,
                                     need_tls=True)
    problems += _url_problem("alerts.pagerduty_url", s.alerts.pagerduty_url, ("http", "https"),
                             secret=False, need_tls=True)
    if s.control.token is not None and len(s.control.token.get_secret_value()) < MIN_TOKEN_LEN:
        problems.append(f"control.token: {MASK!r} — must be at least {MIN_TOKEN_LEN} characters "
                        "(or unset, to generate one)")
    if s.ledger.url is not None:
        problems += _ledger_url_problems(s.ledger.url.get_secret_value())
    problems += _rotation_problems(s.logging.rotation)
    problems += exposure_problems(s)  # control.host off loopback needs an explicit token
    return problems


def _ledger_url_problems(url: str) -> list[str]:
    """A ledger URL must parse as a SQLAlchemy URL of SQLite or PostgreSQL (the value stays masked)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    allowed = "a SQLAlchemy URL like postgresql+psycopg://user:pass@host/db or sqlite:////path/ledger.sqlite"
    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        return [f"ledger.url: {MASK!r} — must be {allowed}"]
    if backend not in ("sqlite", "postgresql"):
        return [f"ledger.url: {MASK!r} — database {backend!r} is not supported (sqlite or postgresql)"]
    return []


def _rotation_problems(rotation: str) -> list[str]:
    """Ask loguru itself whether it understands ``logging.rotation`` (a sink that never opens a file)."""

    try:
        hid = logger.add(os.devnull, rotation=rotation, delay=True, filter=lambda _r: False)
    except (ValueError, TypeError):
        return [f"logging.rotation: {rotation!r} — must be a size (\"50 MB\"), a period (\"1 day\") "
                "or a time of day (\"00:00\")"]
    logger.remove(hid)
    return []


