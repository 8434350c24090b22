"""The process's one TLS context: built once, shared by every REST client, and still verifying."""

from __future__ import annotations

import ssl

import pytest

from kalshi_guard.exchange.keys import generate_private_key
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.exchange.signing import Signer
from kalshi_guard.exchange.tls import shared_tls_context

pytestmark = pytest.mark.timeout(30)


def test_the_context_is_built_once_and_verifies_certificates_and_hostnames() -> None:
    ctx = shared_tls_context()
    assert shared_tls_context() is ctx
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True


def test_every_rest_client_uses_the_shared_context() -> None:
    signer = Signer("key-id", generate_private_key())
    clients = [KalshiClient("https://example.invalid/trade-api/v2", signer) for _ in range(2)]
    try:
        for client in clients:
            pool = client._http._transport._pool  # httpx's connection pool holds the context it was given
            assert pool._ssl_context is shared_tls_context()
    finally:
        for client in clients:
            client.close()
