"""Order groups: a rolling 15-second matched-contracts limit that cancels the group's orders when hit."""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kalshi_guard.simulator.accounts import ZERO, Order, OrderStatus
from kalshi_guard.simulator.base import ExchangeBase
from kalshi_guard.simulator.wire import ApiError, fp, parse_count

WINDOW_S = 15.0


@dataclass(slots=True)
class OrderGroup:
    """One order group (guarded by the exchange lock)."""

    group_id: str
    account: str
    limit: Decimal
    triggered: bool = False
    window: deque[tuple[float, Decimal]] = field(default_factory=deque)
    order_ids: set[str] = field(default_factory=set)

    def json(self) -> dict[str, Any]:
        """REST ``OrderGroup``."""
        return {"id": self.group_id, "contracts_limit_fp": fp(self.limit),
                "is_auto_cancel_enabled": True}


def _limit(req: dict[str, Any]) -> Decimal:
    lim, lim_fp = req.get("contracts_limit"), req.get("contracts_limit_fp")
    if lim is not None and (not isinstance(lim, int) or isinstance(lim, bool) or lim < 1):
        raise ApiError(400, "invalid_parameters", "contracts_limit must be an integer >= 1")
    if lim_fp is not None:
        value = parse_count(lim_fp, "contracts_limit_fp")
    elif lim is not None:
        value = Decimal(lim)
    else:
        raise ApiError(400, "invalid_parameters", "contracts_limit or contracts_limit_fp is required")
    if lim is not None and Decimal(lim) != value:
        raise ApiError(400, "invalid_parameters", "contracts_limit and contracts_limit_fp differ")
    return value


class GroupsMixin(ExchangeBase):
    """Mixed into :class:`simulator.engine.Exchange`."""

    def _init_groups(self) -> None:
        self.groups: dict[str, OrderGroup] = {}
        self._pending_triggers: list[str] = []

    def _group(self, account: str, group_id: Any) -> OrderGroup:
        g = self.groups.get(group_id) if isinstance(group_id, str) else None
        if g is None or g.account != account:
            raise ApiError(404, "not_found", "order group not found")
        return g

    def _check_group_open(self, account: str, group_id: Any) -> None:
        if self._group(account, group_id).triggered:
            raise ApiError(400, "order_group_triggered", "the order group is triggered; reset it first")

    def _group_add_order(self, group_id: str, o: Order) -> None:
        self.groups[group_id].order_ids.add(o.order_id)

    def _group_drop_order(self, o: Order) -> None:
        g = self.groups.get(o.order_group_id or "")
        if g is not None:
            g.order_ids.discard(o.order_id)

    def _group_matched(self, o: Order, q: Decimal, now: float) -> None:
        g = self.groups.get(o.order_group_id or "")
        if g is None or g.triggered:
            return
        g.window.append((now, q))
        while g.window and g.window[0][0] <= now - WINDOW_S:
            g.window.popleft()
        if sum((c for _, c in g.window), ZERO) >= g.limit and g.group_id not in self._pending_triggers:
            self._pending_triggers.append(g.group_id)

    def _run_pending_triggers(self) -> None:
        while self._pending_triggers:
            g = self.groups.get(self._pending_triggers.pop(0))
            if g is not None:
                self._trigger(g)

    def _trigger(self, g: OrderGroup) -> None:
        g.triggered = True
        for oid in list(g.order_ids):
            o = self.orders.get(oid)
            if o is not None and o.status is OrderStatus.RESTING:
                self._cancel(o, "OrderGroupCancel")
        self._mark("group", g.group_id, g)
        self._emit_group(g, "triggered")

    def _emit_group(self, g: OrderGroup, event: str) -> None:
        msg: dict[str, Any] = {"event_type": event, "order_group_id": g.group_id}
        if event in ("created", "limit_updated"):
            msg["contracts_limit_fp"] = fp(g.limit)
        self._emit("order_group_updates", msg, g.account)

    def create_group(self, account: str, req: dict[str, Any]) -> dict[str, Any]:
        """Create an order group. Raises ApiError 400 for a missing / bad limit."""
        limit = _limit(req if isinstance(req, dict) else {})
        with self.lock:
            g = OrderGroup(str(uuid.uuid4()), account, limit)
            self.groups[g.group_id] = g
            self._mark("group", g.group_id, g)
            self._emit_group(g, "created")
            self._commit()
            return {"order_group_id": g.group_id, "subaccount": 0}

    def get_group(self, account: str, group_id: str) -> dict[str, Any]:
        """``GetOrderGroupResponse``. Raises ApiError 404."""
        with self.lock:
            g = self._group(account, group_id)
            return {"is_auto_cancel_enabled": True, "contracts_limit_fp": fp(g.limit),
                    "orders": sorted(g.order_ids)}

    def list_groups(self, account: str) -> list[dict[str, Any]]:
        """Every order group of ``account``."""
        with self.lock:
            return [g.json() for g in self.groups.values() if g.account == account]

    def trigger_group(self, account: str, group_id: str) -> None:
        """Cancel the group's orders now and refuse new ones until reset. Raises ApiError 404."""
        with self.lock:
            self._trigger(self._group(account, group_id))
            self._after_op()

    def reset_group(self, account: str, group_id: str) -> None:
        """Clear the trigger and the rolling window. Raises ApiError 404."""
        with self.lock:
            g = self._group(account, group_id)
            g.triggered = False
            g.window.clear()
            self._mark("group", g.group_id, g)
            self._emit_group(g, "reset")
            self._after_op()

    def update_group_limit(self, account: str, group_id: str, req: dict[str, Any]) -> None:
        """Change the contracts limit. Raises ApiError 400/404."""
        limit = _limit(req if isinstance(req, dict) else {})
        with self.lock:
            g = self._group(account, group_id)
            g.limit = limit
            self._mark("group", g.group_id, g)
            self._emit_group(g, "limit_updated")
            self._after_op()

    def delete_group(self, account: str, group_id: str) -> None:
        """Cancel the group's orders and delete it. Raises ApiError 404."""
        with self.lock:
            g = self._group(account, group_id)
            for oid in list(g.order_ids):
                o = self.orders.get(oid)
                if o is not None and o.status is OrderStatus.RESTING:
                    self._cancel(o, "OrderGroupCancel")
            del self.groups[group_id]
            self._mark("group", g.group_id, None)
            self._emit_group(g, "deleted")
            self._after_op()
