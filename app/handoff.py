"""The one "newest frame wins" handoff between two threads.

A live picture must show what the camera sees now. Wherever a fast producer meets a
slower consumer (the camera driver and the model, the model and the window's
painting, the session and an output's fixed-rate pacer), a queue would let the
backlog, and so the latency, grow without bound. A single slot that the newest item
overwrites keeps the latency at one consumer period however slow the consumer is;
the overwritten items are counted, not kept.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class NewestWins(Generic[T]):
    """One slot: ``put`` replaces what waits there, ``take`` empties it.

    Thread-safe for any number of putters and takers. ``put`` never blocks; ``take``
    waits at most ``timeout`` seconds. After ``close`` a waiting item is still taken,
    then ``take`` returns None at once, so a consumer can drain and stop.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0
        """Items overwritten before anyone took them."""

    def put(self, item: T) -> bool:
        """Leave ``item`` for the taker; True when the slot was empty (nothing overwritten),
        so a producer can signal the taker only once per taken item."""
        with self._cond:
            overwrote = self._item is not None
            self.dropped += overwrote
            self._item = item
            self._cond.notify_all()
            return not overwrote

    def take(self, timeout: float = 0.0) -> T | None:
        """The waiting item (and the slot is empty again), or None when none came within
        ``timeout`` seconds or the handoff is closed and empty."""
        with self._cond:
            if timeout > 0:
                self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def clear(self) -> None:
        """Drop what waits (it must not be taken any more), without counting it as overwritten."""
        with self._cond:
            self._item = None

    def close(self) -> None:
        """No more items will come: wake every taker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
