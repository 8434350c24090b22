"""WebSocket channels over real loopback connections: acks, seq rules, private channels, heartbeat, errors."""

from __future__ import annotations

import base64
import json
import os
import socket
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from kalshi_guard.exchange.signing import Signer
from kalshi_guard.simulator.testing import ORDERS, T0, SignedClient, order_body, running_simulator

WS_PATH = "/trade-api/ws/v2"


def ws_connect(sim: Any) -> Any:
    """A signed WebSocket connection to ``sim``."""
    headers = Signer(sim.key_id, sim.private_key).headers("GET", WS_PATH)
    return connect(sim.ws_url, additional_headers=headers, open_timeout=5)


def recv(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The next JSON frame (fails the test on timeout)."""
    return json.loads(ws.recv(timeout=timeout))


def recv_until(ws: Any, msg_type: str, timeout: float = 5.0) -> dict[str, Any]:
    """Skip frames until one of ``msg_type`` arrives."""
    while True:
        frame = recv(ws, timeout)
        if frame.get("type") == msg_type:
            return frame


def subscribe(ws: Any, cid: int, channels: list[str], **params: Any) -> dict[str, Any]:
    """Send a subscribe command and return its ``subscribed`` ack."""
    ws.send(json.dumps({"id": cid, "cmd": "subscribe", "params": {"channels": channels, **params}}))
    ack = recv_until(ws, "subscribed")
    assert ack["id"] == cid
    return ack


def _drain(ws: Any) -> None:
    """Read frames until the connection closes."""
    while True:
        ws.recv(timeout=5)


class TestCommands:
    def test_subscribe_ack_has_sid(self, sim):
        """subscribe answers ``subscribed`` with the channel and a server-assigned sid."""
        with ws_connect(sim) as ws:
            ack = subscribe(ws, 1, ["fill"])
            assert ack["msg"]["channel"] == "fill"
            assert ack["msg"]["sid"] >= 1

    def test_list_and_unsubscribe(self, sim):
        """list_subscriptions reports the sids; unsubscribe answers ``unsubscribed``."""
        with ws_connect(sim) as ws:
            sid = subscribe(ws, 1, ["user_orders"])["msg"]["sid"]
            ws.send(json.dumps({"id": 2, "cmd": "list_subscriptions"}))
            listing = recv(ws)
            assert listing["type"] == "ok"
            assert listing["msg"] == [{"channel": "user_orders", "sid": sid}]
            ws.send(json.dumps({"id": 3, "cmd": "unsubscribe", "params": {"sids": [sid]}}))
            assert recv(ws)["type"] == "unsubscribed"

    def test_unknown_command_and_channel_are_error_frames(self, sim):
        """An unknown command is error code 5, an unknown channel code 8, orderbook without ticker 14."""
        with ws_connect(sim) as ws:
            ws.send(json.dumps({"id": 1, "cmd": "nope"}))
            assert recv(ws)["msg"]["code"] == 5
            ws.send(json.dumps({"id": 2, "cmd": "subscribe", "params": {"channels": ["bogus"]}}))
            assert recv(ws)["msg"]["code"] == 8
            ws.send(json.dumps({"id": 3, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}))
            assert recv(ws)["msg"]["code"] == 14

    def test_unsigned_upgrade_is_refused(self, sim):
        """A WebSocket upgrade without a valid signature is refused with 401."""
        with pytest.raises(InvalidStatus) as info:
            connect(sim.ws_url, open_timeout=5)
        assert info.value.response.status_code == 401


class TestPrivateChannels:
    def test_fill_user_order_and_position_without_seq(self, sim):
        """A taker fill publishes fill, user_order and market_position messages, none carrying seq."""
        with ws_connect(sim) as ws, SignedClient(sim) as client:
            subscribe(ws, 1, ["fill"])
            subscribe(ws, 2, ["user_orders"])
            subscribe(ws, 3, ["market_positions"])
            body = order_body(price="0.99", count="2.00", tif="immediate_or_cancel")
            oid = client.post(ORDERS, body).json()["order_id"]
            fill = recv_until(ws, "fill")
            assert "seq" not in fill
            assert fill["msg"]["order_id"] == oid
            assert fill["msg"]["client_order_id"] == body["client_order_id"]
            assert fill["msg"]["post_position_fp"] == "2.00"
            pos = recv_until(ws, "market_position")
            assert "seq" not in pos
            assert pos["msg"]["position_fp"] == "2.00"
            uo = recv_until(ws, "user_order")
            assert "seq" not in uo
            assert uo["msg"]["status"] == "executed"

    def test_other_accounts_see_nothing_private(self, sim):
        """Fills of one account never reach another account's fill subscription."""
        from kalshi_guard.exchange.keys import generate_private_key, public_pem

        other = generate_private_key()
        key_id = sim.register_key(public_pem(other), "someone-else")
        headers = Signer(key_id, other).headers("GET", WS_PATH)
        with connect(sim.ws_url, additional_headers=headers) as ws, SignedClient(sim) as client:
            subscribe(ws, 1, ["fill"])
            client.post(ORDERS, order_body(price="0.99", count="1.00", tif="immediate_or_cancel"))
            ws.send(json.dumps({"id": 9, "cmd": "list_subscriptions"}))
            assert recv(ws)["type"] == "ok"  # the fill would have arrived before this reply


class TestOrderbook:
    def test_snapshot_then_deltas_with_consecutive_seq(self, sim):
        """orderbook_delta starts with a snapshot; our resting order arrives as a delta with the next seq."""
        with ws_connect(sim) as ws, SignedClient(sim) as client:
            subscribe(ws, 1, ["orderbook_delta"], market_ticker=T0)
            snap = recv_until(ws, "orderbook_snapshot")
            assert snap["msg"]["market_ticker"] == T0
            assert "yes_dollars_fp" in snap["msg"]
            body = order_body(price="0.11", count="7.00")
            client.post(ORDERS, body)
            delta = recv_until(ws, "orderbook_delta")
            assert delta["seq"] == snap["seq"] + 1
            assert delta["msg"]["price_dollars"] == "0.1100"
            assert delta["msg"]["delta_fp"] == "7.00"
            assert delta["msg"]["side"] == "yes"
            assert delta["msg"]["client_order_id"] == body["client_order_id"]

    def test_get_snapshot_resync(self, sim):
        """update_subscription get_snapshot sends a fresh snapshot carrying the command id."""
        with ws_connect(sim) as ws:
            sid = subscribe(ws, 1, ["orderbook_delta"], market_tickers=[T0])["msg"]["sid"]
            first = recv_until(ws, "orderbook_snapshot")
            ws.send(json.dumps({"id": 5, "cmd": "update_subscription",
                                "params": {"sids": [sid], "action": "get_snapshot", "market_tickers": [T0]}}))
            again = recv_until(ws, "orderbook_snapshot")
            assert again["id"] == 5
            assert again["seq"] == first["seq"] + 1


class TestLifecycleAndGroups:
    def test_lifecycle_and_group_updates_are_sequenced(self, sim):
        """market_lifecycle_v2 and order_group_updates carry seq per sid."""
        with ws_connect(sim) as ws, SignedClient(sim) as client:
            subscribe(ws, 1, ["market_lifecycle_v2"])
            subscribe(ws, 2, ["order_group_updates"])
            client.post("/portfolio/order_groups/create", {"contracts_limit": 5})
            g = recv_until(ws, "order_group_updates")
            assert g["seq"] == 1
            assert g["msg"]["event_type"] == "created"
            sim.exchange.determine(T0, "yes")
            ev = recv_until(ws, "market_lifecycle_v2")
            assert ev["seq"] == 1
            assert ev["msg"]["event_type"] == "determined"
            assert ev["msg"]["result"] == "yes"


class TestHeartbeatAndDisconnect:
    def test_ping_frames_carry_heartbeat(self):
        """The server sends WebSocket ping frames with payload ``heartbeat``."""
        with running_simulator(ping_interval_s=0.05) as sim:
            headers = Signer(sim.key_id, sim.private_key).headers("GET", WS_PATH)
            with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
                key = base64.b64encode(os.urandom(16)).decode()
                lines = [f"GET {WS_PATH} HTTP/1.1", f"Host: 127.0.0.1:{sim.port}", "Upgrade: websocket",
                         "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                         *[f"{k}: {v}" for k, v in headers.items()]]
                s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += s.recv(4096)
                head, rest = buf.split(b"\r\n\r\n", 1)
                assert head.startswith(b"HTTP/1.1 101")
                while len(rest) < 2:
                    rest += s.recv(4096)
                opcode, length = rest[0] & 0x0F, rest[1] & 0x7F
                while len(rest) < 2 + length:
                    rest += s.recv(4096)
                assert opcode == 0x9
                assert rest[2:2 + length] == b"heartbeat"

    def test_forced_disconnect_closes_connections(self, sim):
        """disconnect_all closes every WebSocket connection."""
        with ws_connect(sim) as ws:
            subscribe(ws, 1, ["fill"])
            sim.ctx.hub.disconnect_all()
            with pytest.raises(ConnectionClosed):
                _drain(ws)
