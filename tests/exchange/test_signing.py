"""Signing: RSA-PSS/SHA-256 over timestamp + METHOD + path, query stripped, three headers."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from kalshi_guard.exchange.keys import generate_private_key
from kalshi_guard.exchange.signing import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer, message, sign, verify


@pytest.fixture(scope="module")
def key():
    return generate_private_key()


class TestMessage:
    def test_concatenates_without_separators(self):
        """The signed bytes are timestamp, upper-case method and path, concatenated."""
        assert message(1703123456789, "get", "/trade-api/v2/portfolio/orders") == \
            b"1703123456789GET/trade-api/v2/portfolio/orders"

    def test_query_string_is_stripped(self):
        """Everything from '?' on is not signed."""
        assert message("1", "GET", "/trade-api/v2/portfolio/orders?limit=5&cursor=x") == \
            b"1GET/trade-api/v2/portfolio/orders"


class TestSignVerify:
    def test_sign_then_verify(self, key):
        """A signature verifies against the public key for the same message."""
        sig = sign(key, "1700000000000", "POST", "/trade-api/v2/portfolio/events/orders")
        assert verify(key.public_key(), sig, "1700000000000", "POST", "/trade-api/v2/portfolio/events/orders")

    def test_other_path_does_not_verify(self, key):
        """Changing the path invalidates the signature."""
        sig = sign(key, "1700000000000", "GET", "/trade-api/v2/portfolio/balance")
        assert not verify(key.public_key(), sig, "1700000000000", "GET", "/trade-api/v2/portfolio/fills")

    def test_salt_is_digest_length(self, key):
        """The signature verifies with a fixed 32-byte salt (Kalshi's examples)."""
        sig = base64.b64decode(sign(key, "5", "GET", "/trade-api/v2/x"))
        key.public_key().verify(sig, b"5GET/trade-api/v2/x",
                                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                                hashes.SHA256())

    def test_garbage_signature_is_false(self, key):
        """A non-base64 signature is refused, not raised."""
        assert not verify(key.public_key(), "%%%", "1", "GET", "/x")


class TestSigner:
    def test_three_headers_with_injected_clock(self, key):
        """The signer emits key id, ms timestamp and a valid signature over the path without query."""
        signer = Signer("key-1", key, clock_ms=lambda: 1700000000123)
        h = signer.headers("GET", "/trade-api/v2/portfolio/orders?status=resting")
        assert h[HEADER_KEY] == "key-1"
        assert h[HEADER_TIMESTAMP] == "1700000000123"
        assert verify(key.public_key(), h[HEADER_SIGNATURE], "1700000000123", "GET",
                      "/trade-api/v2/portfolio/orders")

    def test_repr_hides_key(self, key):
        """The signer's repr names the key id only."""
        assert "PRIVATE" not in repr(Signer("key-1", key))
        assert "key-1" in repr(Signer("key-1", key))
