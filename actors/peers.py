"""Stable handles to children: peers address each other by name, never by a captured ``ActorRef``.

A restart replaces the ref behind the handle (docs/architecture.md §3). A tell to a dead or restarting child is a
dead letter: it is logged and reported as ``False``, never raised into the sender.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pykka
from loguru import logger
from pykka._envelope import Envelope  # pykka 4's mailbox entry (see tell_first)


class ChildHandle:
    """A name whose current ``ActorRef`` the supervisor keeps up to date."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ref: pykka.ActorRef[Any] | None = None
        self.epoch = 0
        self.dead_letters = 0

    def tell(self, message: Any) -> bool:
        """Send without waiting. False (and a log line) when the child is down."""
        ref = self.ref
        if ref is None:
            self._dead(message)
            return False
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self._dead(message)
            return False
        return True

    def tell_first(self, message: Any) -> bool:
        """Send ahead of everything already waiting in the mailbox (the kill switch's ``Halt``: the order work
        queued behind it must not run first). Falls back to :meth:`tell` when the mailbox is not pykka 4's
        ``queue.Queue`` of envelopes. False (and a log line) when the child is down."""
        ref = self.ref
        inbox = getattr(ref, "actor_inbox", None)
        if ref is None or not ref.is_alive() or not isinstance(inbox, queue.Queue):
            return self.tell(message)
        with inbox.mutex:
            inbox.queue.appendleft(Envelope(message))
            inbox.unfinished_tasks += 1
            inbox.not_empty.notify()
        return True

    def ask(self, message: Any, timeout: float) -> Any:
        """Send and wait up to ``timeout`` seconds for the reply.

        Raises ``pykka.ActorDeadError`` when the child is down and ``pykka.Timeout`` when it does not
        answer in time (the message still runs later: asks do not cancel). Errors raised by the handler
        are re-raised here. Never call this from inside an actor on itself.
        """
        ref = self.ref
        if ref is None:
            raise pykka.ActorDeadError(f"{self.name} is not running")
        return ref.ask(message, timeout=timeout)

    def is_alive(self) -> bool:
        """Whether the current instance runs."""
        ref = self.ref
        return ref is not None and ref.is_alive()

    def _dead(self, message: Any) -> None:
        self.dead_letters += 1
        logger.bind(actor="supervisor").warning(
            "dead letter to {} (down or restarting): {}", self.name, type(message).__name__
        )


class Peers:
    """All child handles by name, in start order."""

    def __init__(self, names: list[str]) -> None:
        self._handles = {name: ChildHandle(name) for name in names}

    def __getitem__(self, name: str) -> ChildHandle:
        return self._handles[name]

    def get(self, name: str) -> ChildHandle | None:
        """The handle of ``name``, or None if no such child is configured."""
        return self._handles.get(name)

    def __iter__(self) -> Iterator[ChildHandle]:
        return iter(self._handles.values())

    def __contains__(self, name: object) -> bool:
        return name in self._handles
