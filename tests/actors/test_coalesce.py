"""take_queued: what the order placer may take from the head of its mailbox to coalesce, on a real pykka actor's
mailbox (the actor blocked in a handler, so that what is told to it waits)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from kalshi_guard.actors.coalesce import take_queued
from kalshi_guard.actors.messages import Halt, PlaceOrder


class Blocked(pykka.ThreadingActor):
    """Blocks in its first message until released; later messages wait in its mailbox."""

    def __init__(self, entered: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self.entered, self.release = entered, release

    def on_receive(self, message: Any) -> Any:
        if message == "block":
            self.entered.set()
            self.release.wait(10)
        return None


@pytest.fixture
def blocked() -> Iterator[pykka.ActorRef[Any]]:
    entered, release = threading.Event(), threading.Event()
    ref = Blocked.start(entered, release)
    ref.tell("block")
    assert entered.wait(10)
    yield ref
    release.set()
    ref.stop(timeout=10)


def order(n: int) -> PlaceOrder:
    return PlaceOrder(f"request {n}", f"reply {n}")


def left(ref: pykka.ActorRef[Any]) -> list[Any]:
    return [envelope.message for envelope in list(ref.actor_inbox.queue)]  # type: ignore[attr-defined]


class TestTakeQueued:
    def test_takes_the_orders_at_the_head_oldest_first_up_to_the_limit(self, blocked) -> None:
        """Up to ``limit`` orders from the head, in arrival order; the rest stay where they were."""
        for n in range(4):
            blocked.tell(order(n))
        assert take_queued(blocked.actor_inbox, PlaceOrder, 3) == [order(0), order(1), order(2)]
        assert left(blocked) == [order(3)]

    def test_stops_at_any_other_message(self, blocked) -> None:
        """A Halt between orders is never overtaken: only the orders before it are taken."""
        halt = Halt("stop", "test")
        for message in (order(0), order(1), halt, order(2)):
            blocked.tell(message)
        assert take_queued(blocked.actor_inbox, PlaceOrder, 10) == [order(0), order(1)]
        assert left(blocked) == [halt, order(2)]

    def test_an_ask_is_not_taken(self, blocked) -> None:
        """An order someone waits on with ``ask`` is left for the actor to answer, and stops the run."""
        blocked.tell(order(0))
        blocked.ask(order(1), block=False)
        blocked.tell(order(2))
        assert take_queued(blocked.actor_inbox, PlaceOrder, 10) == [order(0)]
        assert left(blocked) == [order(1), order(2)]

    def test_nothing_is_taken_below_a_limit_of_one_or_from_another_kind_of_inbox(self, blocked) -> None:
        """limit 0 takes nothing; an inbox that is not a queue.Queue is left alone (no coalescing)."""
        blocked.tell(order(0))
        assert take_queued(blocked.actor_inbox, PlaceOrder, 0) == []
        assert take_queued([order(0)], PlaceOrder, 5) == []
        assert left(blocked) == [order(0)]
