"""The order placer: the single send point of every order-creating request (DESIGN §5–6)."""

from __future__ import annotations

from actors.base import SupervisedActor
from actors.messages import Halt


class OrderPlacer(SupervisedActor):
    """Trading actor (rest-for-one, started last)."""

    trading = True

    def on_halt(self, message: Halt) -> None:
        """Drop queued order work: the gate is already closed, so nothing new leaves the process."""
