"""Observation points for metrics: lower layers report events, the control layer counts them.

A lower layer calls :func:`emit` (``"api_call"``, ``"confirmation"``, ``"discrepancy"``, …) with keyword
fields; whoever subscribed (the daemon's ``/metrics``) receives ``(kind, fields)``. With no subscriber an
emit costs a list check. A subscriber that raises is ignored for that event (an observer never breaks the
code it observes); subscribers run on the emitting thread and must be quick and thread-safe.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

Sink = Callable[[str, Mapping[str, Any]], None]

_lock = threading.Lock()
_sinks: tuple[Sink, ...] = ()
_WORD = re.compile(r"[a-z_]+")


def subscribe(sink: Sink) -> Callable[[], None]:
    """Add a sink; returns the function that removes it again."""
    global _sinks
    with _lock:
        _sinks = (*_sinks, sink)

    def unsubscribe() -> None:
        global _sinks
        with _lock:
            _sinks = tuple(s for s in _sinks if s is not sink)

    return unsubscribe


def emit(kind: str, /, **fields: Any) -> None:
    """Hand one event to every sink; never raises (``kind`` is positional-only: a field may be named so)."""
    for sink in _sinks:
        try:
            sink(kind, fields)
        except Exception:  # noqa: S112 - an observer never breaks the observed code
            continue


def route_template(path: str) -> str:
    """A path with its identifiers replaced by ``{}`` (tickers, order ids), so routes stay few.

    ``/markets/KXBTC-25/orderbook`` → ``/markets/{}/orderbook``; lower-case words are kept.
    """
    parts = path.split("?", 1)[0].split("/")
    return "/".join(p if not p or _WORD.fullmatch(p) else "{}" for p in parts)
