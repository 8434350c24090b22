"""Kalshi request signing: RSA-PSS / SHA-256 / salt = digest length over ``timestamp_ms + METHOD + path``.

The path is the full path from the host root including ``/trade-api/v2`` (or ``/trade-api/ws/v2``) and
without the query string (docs/kalshi.md §1.2). The body is not signed.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"

_PSS_SIGN = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_PSS_VERIFY = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)


def message(timestamp_ms: int | str, method: str, path: str) -> bytes:
    """The exact bytes that are signed; the query string is stripped."""
    return f"{timestamp_ms}{method.upper()}{path.split('?', 1)[0]}".encode()


def sign(key: rsa.RSAPrivateKey, timestamp_ms: int | str, method: str, path: str) -> str:
    """Base64 (standard, padded) RSA-PSS signature of :func:`message`."""
    sig = key.sign(message(timestamp_ms, method, path), _PSS_SIGN, hashes.SHA256())
    return base64.b64encode(sig).decode("ascii")


def verify(
    public_key: rsa.RSAPublicKey, signature_b64: str, timestamp_ms: str, method: str, path: str
) -> bool:
    """True when the signature is valid (salt length auto-detected, as Kalshi evidently does)."""
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        public_key.verify(sig, message(timestamp_ms, method, path), _PSS_VERIFY, hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


class Signer:
    """Produces the three ``KALSHI-ACCESS-*`` headers for a request. The clock is injectable."""

    def __init__(
        self, key_id: str, key: rsa.RSAPrivateKey, clock_ms: Callable[[], int] | None = None
    ) -> None:
        self.key_id = key_id
        self._key = key
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)

    def headers(self, method: str, path: str) -> dict[str, str]:
        """Signed headers for ``method`` on ``path`` (full path, query ignored)."""
        ts = str(self._clock_ms())
        return {
            HEADER_KEY: self.key_id,
            HEADER_TIMESTAMP: ts,
            HEADER_SIGNATURE: sign(self._key, ts, method, path),
        }

    def __repr__(self) -> str:  # never show key material
        return f"Signer(key_id={self.key_id!r})"
