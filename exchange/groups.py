"""The order-group calls of the Kalshi client: the exchange-side circuit breaker (docs/kalshi.md §3.6).

Mixed into :class:`exchange.rest.KalshiClient`, which provides ``_read`` and ``_write``. Writes are never
retried; every call raises an ``ExchangeError`` subclass on failure (``NotFoundError`` for an unknown group).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kalshi_guard.core.errors import Ambiguous
from kalshi_guard.exchange.buckets import Priority
from kalshi_guard.exchange.wire_base import Fields, fmt_count
from kalshi_guard.exchange.wire_reads import OrderGroup


def _ignore_answer(data: Any) -> None:
    if not isinstance(data, dict):
        raise Ambiguous("expected a JSON object")


class OrderGroupCalls:
    """Create, read, trigger, reset, limit and delete order groups."""

    _read: Any
    _write: Any
    NO_BODY: Any

    def create_order_group(self, contracts_limit: Decimal, *, subaccount: int | None = None,
                           priority: Priority = Priority.NORMAL) -> str:
        """Create an order group; returns its id. Never retried."""
        body: dict[str, Any] = {"contracts_limit_fp": fmt_count(contracts_limit)}
        if subaccount is not None:
            body["subaccount"] = subaccount
        group_id: str = self._write("POST", "/portfolio/order_groups/create", body,
                                    lambda d: Fields("CreateOrderGroupResponse", d).s("order_group_id"),
                                    priority=priority)
        return group_id

    def get_order_group(self, group_id: str) -> OrderGroup:
        """One order group. NotFoundError when unknown."""
        def parse(d: Any) -> OrderGroup:
            inner = d.get("order_group") if isinstance(d, dict) and "order_group" in d else d
            return OrderGroup.parse(inner, group_id)

        group: OrderGroup = self._read(f"/portfolio/order_groups/{group_id}", parse)
        return group

    def list_order_groups(self) -> list[OrderGroup]:
        """Every order group of the member."""
        groups: list[OrderGroup] = self._read("/portfolio/order_groups", lambda d: [
            OrderGroup.parse(g) for g in Fields("GetOrderGroupsResponse", d).lst("order_groups",
                                                                               required=False)])
        return groups

    def trigger_order_group(self, group_id: str, *, priority: Priority = Priority.URGENT) -> None:
        """Cancel all orders of the group now and block new ones until reset."""
        self._write("PUT", f"/portfolio/order_groups/{group_id}/trigger", {}, _ignore_answer, priority=priority)

    def reset_order_group(self, group_id: str, *, priority: Priority = Priority.NORMAL) -> None:
        """Re-open a triggered group."""
        self._write("PUT", f"/portfolio/order_groups/{group_id}/reset", {}, _ignore_answer, priority=priority)

    def set_order_group_limit(self, group_id: str, contracts_limit: Decimal, *,
                              priority: Priority = Priority.NORMAL) -> None:
        """Change the group's rolling 15 s contracts limit."""
        self._write("PUT", f"/portfolio/order_groups/{group_id}/limit",
                    {"contracts_limit_fp": fmt_count(contracts_limit)}, _ignore_answer, priority=priority)

    def delete_order_group(self, group_id: str, *, priority: Priority = Priority.URGENT) -> None:
        """Delete the group (cancels all its orders)."""
        self._write("DELETE", f"/portfolio/order_groups/{group_id}", self.NO_BODY, _ignore_answer, priority=priority)

