"""Classification of every Kalshi error shape and transport failure (MockTransport stands for Kalshi)."""

from __future__ import annotations

import httpx
import pytest

from kalshi_guard.core.errors import Ambiguous, AuthError, NotFoundError, RateLimited, Rejected
from kalshi_guard.exchange.classify import classify, classify_status, parse_error_body
from kalshi_guard.exchange.keys import generate_private_key
from kalshi_guard.exchange.rest import KalshiClient
from kalshi_guard.exchange.signing import Signer
from kalshi_guard.exchange.wire import BookSide, CreateOrderRequest

NESTED = '{"error":{"code":"order_already_exists","message":"order already exists","service":"exchange"}}'
FLAT = '{"code":"bad_request","message":"could not decode JSON","details":"x"}'
BARE = '{"msg":"limit must be <= 1000"}'
TOO_MANY = '{"error":"too many requests"}'
HTML = "<html><body>502 Bad Gateway</body></html>"


class TestBodyShapes:
    @pytest.mark.parametrize(("text", "code", "shape"), [
        (NESTED, "order_already_exists", "nested"), (FLAT, "bad_request", "flat"), (BARE, None, "msg"),
        (TOO_MANY, None, "string"), (HTML, None, "none"), ("", None, "none"), ("[1]", None, "none"),
    ])
    def test_each_shape(self, text, code, shape):
        """Each of the four shapes (and junk) yields the code it carries and its shape name."""
        body = parse_error_body(text)
        assert (body.code, body.shape) == (code, shape)


class TestStatusTable:
    @pytest.mark.parametrize(("status", "text", "cls", "code"), [
        (409, NESTED, Rejected, "order_already_exists"),
        (409, '{"error":{"code":"trading_is_paused","message":"paused"}}', Rejected, "trading_is_paused"),
        (400, FLAT, Rejected, "bad_request"),
        (400, BARE, Rejected, None),
        (422, '{"error":{"code":"invalid_order","message":"post only cross"}}', Rejected, "invalid_order"),
        (410, '{"error":{"code":"deprecated_v1_order_endpoint","message":"switch"}}', Rejected,
         "deprecated_v1_order_endpoint"),
        (404, '{"error":{"code":"not_found","message":"no such order"}}', NotFoundError, "not_found"),
        (429, TOO_MANY, RateLimited, None),
        (401, '{"error":{"code":"authentication_error","message":"bad sig"}}', AuthError,
         "authentication_error"),
        (403, HTML, AuthError, None),
        (500, '{"error":{"code":"service_unavailable","message":"x"}}', Ambiguous, "service_unavailable"),
        (503, HTML, Ambiguous, None),
        (504, "", Ambiguous, None),
        (500, '{"error":{"code":"MARKET_INACTIVE","message":"closed"}}', Rejected, "MARKET_INACTIVE"),
    ])
    def test_table(self, status, text, cls, code):
        """Each status/body maps to its class and keeps Kalshi's code and the status."""
        err = classify_status(status, text)
        assert type(err) is cls
        assert err.code == code
        assert err.status == status

    def test_2xx_is_not_an_error(self):
        """A 2xx status is no error at this level (the parser judges the body)."""
        assert classify_status(201, "{}") is None

    def test_2xx_body_is_left_to_the_parser(self):
        """A 2xx response is classified without its body decoded to text (a page of fills is read once, as
        bytes, by the parser): its text cache stays empty."""
        resp = httpx.Response(200, content=b'{"fills":[],"cursor":""}')
        assert classify(resp) is None
        assert not hasattr(resp, "_text")

    def test_retry_after_header(self):
        """A Retry-After header on 429 becomes retry_after."""
        assert classify_status(429, TOO_MANY, "2.5").retry_after == 2.5


class TestTransport:
    @pytest.mark.parametrize("exc", [
        httpx.ReadTimeout("t"), httpx.ConnectTimeout("t"), httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("reset"), httpx.ReadError("reset"),
    ])
    def test_transport_failures_are_ambiguous(self, exc):
        """Timeouts, resets and connect failures are all Ambiguous."""
        assert isinstance(classify(exc), Ambiguous)


def _client(handler, **kw):
    return KalshiClient("http://127.0.0.1:9/trade-api/v2", Signer("k", _KEY),
                        transport=httpx.MockTransport(handler), backoff_base=0.0001, **kw)


_KEY = generate_private_key()
_REQ = CreateOrderRequest("MKT-A", BookSide.BID, __import__("decimal").Decimal("1"),
                          __import__("decimal").Decimal("0.50"), client_order_id="c-1")


class TestClientSurface:
    @pytest.mark.parametrize(("status", "text"), [
        (201, '{"error":{"code":"deprecated_v1_order_endpoint","message":"Please switch"}}'),
        (201, "{}"), (201, "not json"), (200, "[]"),
        (201, '{"order_id":"o","fill_count":"x","remaining_count":"1.00"}'),
    ])
    def test_2xx_without_the_order_is_ambiguous(self, status, text):
        """A create that answers 2xx without a well-formed order is Ambiguous, with the status kept."""
        client = _client(lambda r: httpx.Response(status, text=text))
        with pytest.raises(Ambiguous) as exc:
            client.create_order(_REQ)
        assert exc.value.status == status

    def test_write_is_never_retried(self):
        """A 503 on create is Ambiguous after exactly one attempt."""
        calls = []

        def handler(req):
            calls.append(req)
            return httpx.Response(503, text=HTML)

        with pytest.raises(Ambiguous):
            _client(handler).create_order(_REQ)
        assert len(calls) == 1

    def test_read_is_retried_then_succeeds(self):
        """A read that gets 500 then 429 then 200 returns the 200 answer."""
        answers = [httpx.Response(500, text=HTML), httpx.Response(429, text=TOO_MANY),
                   httpx.Response(200, json={"exchange_active": True, "trading_active": False})]
        status = _client(lambda r: answers.pop(0), read_retries=3).get_exchange_status()
        assert status.exchange_active
        assert not status.trading_active

    def test_read_gives_up_after_retries(self):
        """A read failing every time raises the last classification after read_retries + 1 attempts."""
        calls = []

        def handler(req):
            calls.append(req)
            return httpx.Response(429, text=TOO_MANY)

        with pytest.raises(RateLimited):
            _client(handler, read_retries=2).get_balance()
        assert len(calls) == 3

    def test_rejection_is_not_retried_on_reads(self):
        """A 404 read is raised at once."""
        calls = []

        def handler(req):
            calls.append(req)
            return httpx.Response(404, text='{"error":{"code":"not_found","message":"x"}}')

        with pytest.raises(NotFoundError):
            _client(handler).get_order("nope")
        assert len(calls) == 1

    def test_timeout_on_write_is_ambiguous(self):
        """A transport timeout on create surfaces as Ambiguous."""
        def handler(req):
            raise httpx.ReadTimeout("slow", request=req)

        with pytest.raises(Ambiguous, match="timed out"):
            _client(handler).create_order(_REQ)
