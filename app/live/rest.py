"""The model rests while nobody sees the output: camera frames are held back before the pipeline.

While resting, frames are still read (the camera stays open, its watcher sees it alive)
but none reaches the model or the output thread, so neither the model nor the carrying
of frames costs anything; every sink's :class:`~app.live.sinks.FramePacer` keeps its
rate by repeating the last frame, as it does for a slow model. When the gate opens, the
very next camera frame goes through: a fresh frame reaches the outputs within one model
run. Who decides when to rest (OBS hiding LiveToon's source, ``app/obs/visibility.py``)
is not this module's business.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

Frame = TypeVar("Frame")


class RestGate:
    """Open (frames pass) until ``rest(True)``; thread-safe."""

    def __init__(self) -> None:
        self._resting = threading.Event()

    @property
    def resting(self) -> bool:
        return self._resting.is_set()

    def rest(self, on: bool) -> None:
        if on:
            self._resting.set()
        else:
            self._resting.clear()

    def frames(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """``frames``, less those that arrive while resting."""
        for frame in frames:
            if not self._resting.is_set():
                yield frame
