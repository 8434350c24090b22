"""Taking the messages that wait at the head of an actor's mailbox, so that they can be handled together.

pykka hands an actor one message at a time. When the order placer takes a ``PlaceOrder``, the orders that
queued behind it while it was busy can leave in the same batch create: one signature and one round trip
instead of one each (the fill watcher likewise books the fills of the stream messages waiting together in
one transaction). :func:`take_queued` removes them from the mailbox under the queue's own lock.

What it takes: only tells (no ``ask`` waits on them) of the requested message types, consecutive at the
head of the mailbox, in arrival order, at most ``limit``. It stops at the first other message — a ``Halt``,
a ``Resend``, a ``PlaceBatch``, a heartbeat, an ask — so nothing is ever reordered past anything else.

This reads pykka 4's threading inbox (a ``queue.Queue`` of envelopes with ``message`` and ``reply_to``).
Should an inbox not be a ``queue.Queue``, or an envelope lack those fields, nothing is taken: every order
is then placed on its own, as without coalescing. Messages taken are the caller's to handle; if the caller
dies before replying, they are lost exactly as the rest of a dead actor's mailbox is.
"""

from __future__ import annotations

import queue
from typing import Any, TypeVar

T = TypeVar("T")

_NOT_A_TELL = object()


def take_queued(inbox: Any, kind: type[T] | tuple[type[Any], ...], limit: int) -> list[T]:
    """Remove and return up to ``limit`` tells of type ``kind`` (a type or a tuple of types) waiting
    consecutively at the head of ``inbox`` (oldest first). Returns an empty list when ``limit`` < 1 or
    nothing eligible waits."""
    if limit < 1 or not isinstance(inbox, queue.Queue):
        return []
    taken: list[Any] = []
    with inbox.mutex:
        waiting = inbox.queue
        while waiting and len(taken) < limit:
            envelope = waiting[0]
            message = getattr(envelope, "message", None)
            if getattr(envelope, "reply_to", _NOT_A_TELL) is not None or not isinstance(message, kind):
                break
            waiting.popleft()
            taken.append(message)
        if taken:
            inbox.not_full.notify(len(taken))  # as Queue.get does (matters only for a bounded queue)
    return taken


def take_all(inbox: Any, kind: type[T] | tuple[type[Any], ...]) -> list[T]:
    """Remove and return every tell of type ``kind`` waiting anywhere in ``inbox`` (oldest first); every
    other message stays, in its order. Used on ``Halt``: the order work queued behind it is dropped."""
    if not isinstance(inbox, queue.Queue):
        return []
    taken: list[Any] = []
    with inbox.mutex:
        kept = []
        for envelope in inbox.queue:
            message = getattr(envelope, "message", None)
            if getattr(envelope, "reply_to", _NOT_A_TELL) is None and isinstance(message, kind):
                taken.append(message)
            else:
                kept.append(envelope)
        if taken:
            inbox.queue.clear()
            inbox.queue.extend(kept)
            inbox.not_full.notify(len(taken))
    return taken
