"""``SimContext``: what the simulator's REST, WebSocket and admin routes share (no route imports the server)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kalshi_guard.simulator.auth import KeyRegistry
from kalshi_guard.simulator.buckets import Buckets
from kalshi_guard.simulator.engine import DEFAULT_ACCOUNT, Exchange
from kalshi_guard.simulator.liquidity import Liquidity


@dataclass
class SimContext:
    """What the routes share: the exchange, keys, buckets, the WebSocket hub, the stop signal, and a count
    of the REST requests received per route name (``batch_create``, ``create_order``, …)."""

    exchange: Exchange
    keys: KeyRegistry
    buckets: Buckets
    default_account: str = DEFAULT_ACCOUNT
    hub: Any = None
    liquidity: Liquidity | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    requests: Counter[str] = field(default_factory=Counter)  # REST requests received, by route name
    # in-process tests only: called (on the server's loop) as a request for the route arrives, before it is
    # handled: an exact moment for an external action (a trade racing a read); never set over the wire
    before: dict[str, Callable[[], None]] = field(default_factory=dict)
