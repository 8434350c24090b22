"""The fill watcher: confirms orders from the exchange's fills (stream first, REST when stale)."""

from __future__ import annotations

from actors.base import SupervisedActor
from actors.messages import Halt


class FillWatcher(SupervisedActor):
    """Trading actor (rest-for-one after the reconciler)."""

    trading = True

    def on_halt(self, message: Halt) -> None:
        """Keep confirming what is in flight (fills must still be booked); nothing new is tracked."""
