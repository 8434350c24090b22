"""Verifies ``KALSHI-ACCESS-*`` request signatures against registered public keys and a timestamp window."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_guard.exchange.signing import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify
from kalshi_guard.simulator.wire import ApiError


class KeyRegistry:
    """API key id -> (public key, account). Thread-safe."""

    def __init__(self, window_s: float = 10.0, clock_ms: Callable[[], int] | None = None) -> None:
        self.window_ms = int(window_s * 1000)
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._keys: dict[str, tuple[rsa.RSAPublicKey, str]] = {}
        self._lock = threading.Lock()

    def register(self, public_pem: bytes, account: str, key_id: str | None = None) -> str:
        """Register an RSA public key (PEM) for ``account``; returns its key id (a UUID string).

        Raises ValueError if the PEM is not an RSA public key.
        """
        key = serialization.load_pem_public_key(public_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("only RSA public keys can be registered")
        kid = key_id or str(uuid.uuid4())
        with self._lock:
            self._keys[kid] = (key, account)
        return kid

    def authenticate(self, headers: Mapping[str, str], method: str, path: str) -> str:
        """The account behind a signed request.

        Raises ApiError 401 (``authentication_error``) for a missing header, unknown key, stale or future
        timestamp outside the window, or a bad signature. The message never echoes the signature.
        """
        kid = headers.get(HEADER_KEY)
        ts = headers.get(HEADER_TIMESTAMP)
        sig = headers.get(HEADER_SIGNATURE)
        if not kid or not ts or not sig:
            raise ApiError(401, "authentication_error", "missing KALSHI-ACCESS-* headers")
        with self._lock:
            entry = self._keys.get(kid)
        if entry is None:
            raise ApiError(401, "authentication_error", "unknown API key")
        if not ts.isdigit():
            raise ApiError(401, "authentication_error", "timestamp must be Unix milliseconds")
        if abs(self._clock_ms() - int(ts)) > self.window_ms:
            raise ApiError(401, "authentication_error", "timestamp outside the allowed window")
        if not verify(entry[0], sig, ts, method, path):
            raise ApiError(401, "authentication_error", "invalid signature")
        return entry[1]
