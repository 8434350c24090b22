"""The one send point: every order-creating request leaves the process through these two functions, which
check the gate for the order's intent immediately before the request (docs/architecture.md §5).

The order placer sends the bot's orders through them (``OPENING`` / ``REDUCING``); the kill switch sends its
flatten orders through them (``FLATTEN``, which a HALTED gate lets pass). A closed gate raises
:class:`~kalshi_guard.core.errors.GateClosedError` and nothing is sent; an exchange failure raises the
client's ``ExchangeError`` unchanged (its outcome is the caller's to classify).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kalshi_guard.core.gate import OrderIntent, TradingGate
from kalshi_guard.exchange.buckets import Priority
from kalshi_guard.exchange.wire import CreateOrderRequest, CreateOrderResult


def send_create(gate: TradingGate, client: Any, intent: OrderIntent, request: CreateOrderRequest,
                priority: Priority = Priority.NORMAL) -> CreateOrderResult:
    """Check the gate for ``intent``, then send one create. Raises GateClosedError or ExchangeError."""
    gate.check(intent)
    result: CreateOrderResult = client.create_order(request, priority=priority)
    return result


def send_batch(gate: TradingGate, client: Any, intent: OrderIntent, requests: Sequence[CreateOrderRequest]) -> Any:
    """Check the gate once for ``intent``, then send one batch create (the client's per-order items)."""
    gate.check(intent)
    return client.batch_create_orders(requests)
