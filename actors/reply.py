"""A one-shot reply channel: the caller waits on it, the actor that finishes the work fills it once.

Unlike an ``ask``, the answer can come from another actor than the one that received the request (the
order placer hands an order to the fill watcher, which replies when the order is confirmed).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Reply(Generic[T]):
    """Set once (later sets are ignored and return False); read with a timeout."""

    __slots__ = ("_event", "_value")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._value: T | None = None

    def set(self, value: T) -> bool:
        """Deliver ``value``; False if a value was already delivered (the first one stands)."""
        if self._event.is_set():
            return False
        self._value = value
        self._event.set()
        return True

    @property
    def done(self) -> bool:
        """Whether a value was delivered."""
        return self._event.is_set()

    def get(self, timeout: float | None = None) -> T:
        """The value; raises ``TimeoutError`` when none arrives within ``timeout`` seconds."""
        if not self._event.wait(timeout):
            raise TimeoutError("no reply within the wait")
        return self._value  # type: ignore[return-value]  # set before the event; T may include None
