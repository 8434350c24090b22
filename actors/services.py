"""The typed services every actor may use, built in one place and swapped as a whole.

:class:`Services` is a frozen record (ledger, settings, exchange and stream factories, the signal router,
the wall clock). The supervisor keeps the current one in a :class:`ServicesCell`; each actor reads
``self.ctx.services`` and so always sees the current record — a SIGHUP reload replaces the record in one
assignment (:meth:`ServicesCell.swap`) instead of mutating a shared dict.

A field an actor needs but the tree was built without is ``None``: actors that need it refuse work (or
start without it in tests that exercise one actor).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Services:
    """What actors share. ``clock`` is the wall clock (Unix seconds) every actor reads instead of
    ``time.time()``, so tests can move time; monotonic intervals stay with each actor's own timers."""

    ledger: Any = None
    settings: Any = None  # config.schema.Settings
    exchange_factory: Callable[[str], Any] | None = None  # actor name -> a KalshiClient of its own
    stream_factory: Callable[..., Any] | None = None  # (on_message, on_event) -> an exchange stream
    signals: Any = None  # control.signals.SignalRouter: the order placer takes SIGUSR1 in its thread
    clock: Callable[[], float] = time.time
    meter: Any = None  # exchange.meter.CallMeter: every exchange call (the API error-rate kill switch)
    killswitch: Any = None  # actors.killswitch.KillSwitch: the one owner of a stop (the supervisor sets it)

    @classmethod
    def of(cls, value: Services | Mapping[str, Any] | None) -> Services:
        """A ``Services`` from itself, a mapping of its field names, or nothing. Raises TypeError on an unknown
        name (a typo must not silently leave a service unset)."""
        if value is None:
            return cls()
        if isinstance(value, Services):
            return value
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise TypeError(f"unknown services: {', '.join(unknown)}")
        return cls(**dict(value))

    def with_(self, **changes: Any) -> Services:
        """A copy with ``changes`` (the record itself never changes)."""
        return replace(self, **changes)


class ServicesCell:
    """The current :class:`Services`, replaced as a whole; reads need no lock (one reference load).

    Reading an attribute of the cell reads it from the current record (``cell.ledger``), so an actor that
    keeps ``self.ctx.services`` always sees what the last swap installed.
    """

    def __init__(self, services: Services | Mapping[str, Any] | None = None) -> None:
        self._current = Services.of(services)
        self._lock = threading.Lock()

    @property
    def current(self) -> Services:
        return self._current

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._current, name)

    # dict-style reads, for code written against the earlier string-keyed services
    def get(self, name: str, default: Any = None) -> Any:
        value = getattr(self._current, name, None)
        return default if value is None else value

    def __getitem__(self, name: str) -> Any:
        value = getattr(self._current, name, None)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and getattr(self._current, name, None) is not None

    def swap(self, **changes: Any) -> Services:
        """Replace the record with a copy carrying ``changes``; returns the new one."""
        with self._lock:
            self._current = self._current.with_(**changes)
            return self._current
