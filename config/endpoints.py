"""Where Kalshi is: base URLs per environment (docs/kalshi.md §1.1) and the one client factory.

Production, demo and the simulator differ only by configuration (URLs and key), never by code. An
explicit ``base_url``/``ws_url`` in the settings wins over the environment's default; the simulator has no
default (paper mode fills in the embedded simulator's URLs).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_guard.config.schema import Environment, ExchangeSettings
from kalshi_guard.core.errors import ConfigError
from kalshi_guard.exchange.buckets import RateBuckets
from kalshi_guard.exchange.keys import load_private_key
from kalshi_guard.exchange.meter import CallMeter
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.exchange.signing import Signer

REST_PATH = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """A REST base URL (with ``/trade-api/v2``) and a WebSocket URL (with ``/trade-api/ws/v2``)."""

    rest_url: str
    ws_url: str


PRODUCTION = Endpoints("https://external-api.kalshi.com/trade-api/v2",
                       "wss://external-api-ws.kalshi.com/trade-api/ws/v2")
PRODUCTION_SHARED = Endpoints("https://api.elections.kalshi.com/trade-api/v2",
                              "wss://api.elections.kalshi.com/trade-api/ws/v2")
DEMO = Endpoints("https://external-api.demo.kalshi.co/trade-api/v2",
                 "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2")
DEMO_SHARED = Endpoints("https://demo-api.kalshi.co/trade-api/v2", "wss://demo-api.kalshi.co/trade-api/ws/v2")

DEFAULTS: dict[Environment, Endpoints] = {Environment.PRODUCTION: PRODUCTION, Environment.DEMO: DEMO}


def resolve(settings: ExchangeSettings) -> Endpoints:
    """The URLs the settings select. Raises ConfigError when the simulator environment has no URLs."""
    default = DEFAULTS.get(settings.environment)
    rest = settings.base_url or (default.rest_url if default else None)
    ws = settings.ws_url or (default.ws_url if default else None)
    problems = []
    if not rest:
        problems.append(f"exchange.base_url: required for environment {settings.environment.value!r}")
    if not ws:
        problems.append(f"exchange.ws_url: required for environment {settings.environment.value!r}")
    if problems or rest is None or ws is None:
        raise ConfigError(problems)
    if not rest.rstrip("/").endswith(REST_PATH):
        problems.append(f"exchange.base_url: {rest!r} must end with {REST_PATH} (the signed path includes it)")
    if not ws.rstrip("/").endswith(WS_PATH):
        problems.append(f"exchange.ws_url: {ws!r} must end with {WS_PATH}")
    if problems:
        raise ConfigError(problems)
    return Endpoints(rest.rstrip("/"), ws.rstrip("/"))


def make_signer(settings: ExchangeSettings, key: rsa.RSAPrivateKey | None = None) -> Signer:
    """A signer from the settings' key id and key (loaded from ``private_key_file`` when not given).

    Raises ConfigError when the key id or key file is missing or unusable.
    """
    if not settings.key_id:
        raise ConfigError(["exchange.key_id: required (the API key id registered with Kalshi)"])
    if key is None:
        if settings.private_key_file is None:
            raise ConfigError(["exchange.private_key_file: required (PEM private key, mode 0600)"])
        key = load_private_key(settings.private_key_file)
    return Signer(settings.key_id, key)


def make_buckets(settings: ExchangeSettings) -> RateBuckets:
    """Client-side buckets from the settings (requests/s of default cost; refined by /account/limits)."""
    return RateBuckets.from_requests_per_s(settings.read_rate_per_s, settings.write_rate_per_s,
                                           settings.reserve_fraction)


def make_client(settings: ExchangeSettings, key: rsa.RSAPrivateKey | None = None, *,
                buckets: RateBuckets | None = None, rng: random.Random | None = None,
                keepalive_expiry: float | None = None, meter: CallMeter | None = None,
                source: str = "") -> KalshiClient:
    """The one REST client factory for production, demo and the simulator (``keepalive_expiry``: how long an
    idle connection is kept, None = httpx's default; ``meter`` counts every call, by ``source``, for the API
    error-rate kill switch). Raises ConfigError."""
    endpoints = resolve(settings)
    return KalshiClient(endpoints.rest_url, make_signer(settings, key), timeout=settings.request_timeout_s,
                        buckets=buckets if buckets is not None else make_buckets(settings), rng=rng,
                        keepalive_expiry=keepalive_expiry, meter=meter, source=source)


def make_stream(settings: ExchangeSettings, key: rsa.RSAPrivateKey | None, on_message: Any, on_event: Any,
                **kw: Any) -> Any:
    """The private-channel WebSocket stream for the same URL and key as :func:`make_client` (``kw`` goes to
    ``KalshiStream``, e.g. ``stale_after``). Raises ConfigError like :func:`make_client`."""
    from kalshi_guard.exchange.stream import KalshiStream

    return KalshiStream(resolve(settings).ws_url, make_signer(settings, key), on_message, on_event, **kw)
