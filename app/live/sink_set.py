"""The outputs that are on (:class:`SinkSet`) and the rate they get frames at (:class:`RateMeter`).

Apart from the session because they outlive it: the front end owns the sinks, and
changing the camera (a new session) must not close the virtual camera OBS shows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import cv2
import numpy as np

from app.live.audio import AudioTap
from app.live.contracts import Sink
from app.live.outputs import OUTPUTS
from app.live.rest import RestGate
from app.live.shared_encoder import EncoderPool


class RateMeter:
    """Frames per second and latency percentiles over the last second, thread-safe."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()

    def add(self, latency: float) -> None:
        now = time.perf_counter()
        with self._lock:
            self._samples.append((now, latency))
            while self._samples and self._samples[0][0] < now - self.window:
                self._samples.popleft()

    def read(self) -> tuple[float, float, float]:
        """(fps, p50 latency ms, p95 latency ms); zeros when nothing arrived lately."""
        now = time.perf_counter()
        with self._lock:
            recent = [(t, lat) for t, lat in self._samples if t >= now - self.window]
        if not recent:
            return 0.0, 0.0, 0.0
        latencies = np.array([lat for _, lat in recent]) * 1000.0
        return len(recent) / self.window, float(np.percentile(latencies, 50)), float(np.percentile(latencies, 95))


class SinkSet:
    """The sinks that are on, by name; switched from any thread, outliving sessions.

    Owned by the front end, not by a session: changing the camera must not close the
    virtual camera that OBS is showing.
    """

    def __init__(self) -> None:
        self._sinks: dict[str, Sink] = {}
        self._lock = threading.Lock()
        self.rest = RestGate()
        """Holds camera frames back while nobody sees these outputs (OBS hides LiveToon's source):
        the model rests. Here, not on a session, so it outlives a change of camera."""
        self.audio = AudioTap()
        """The current source's sound, for recordings (and the video latency it must be delayed by)."""
        self.encoders = EncoderPool()
        """The encoders these outputs share: the stream and an H.264 recording of the same size and
        rate encode each frame once (:mod:`app.live.shared_encoder`)."""

    def get(self, name: str) -> Sink | None:
        with self._lock:
            return self._sinks.get(name)

    def all(self) -> list[Sink]:
        with self._lock:
            return list(self._sinks.values())

    def set(self, name: str, sink: Sink | None) -> None:
        """Install (or with None remove and close) the sink called ``name``, a registry name
        (:data:`OUTPUTS`): a name known nowhere else would be a sink no button or badge can reach."""
        if name not in OUTPUTS:
            raise KeyError(f"no output called {name!r}; the outputs are {', '.join(OUTPUTS)}")
        with self._lock:
            old = self._sinks.pop(name, None)
            if sink is not None:
                self._sinks[name] = sink
        if old is not None:
            old.close()

    def submit(self, frame_bgr: np.ndarray, frame_bgra: Callable[[], np.ndarray] | None = None,
               captured: float | None = None) -> None:
        """``frame_bgr`` to every sink, or to those that carry alpha the BGRA frame that
        ``frame_bgra`` makes (opaque when None). Made only when such a sink is on, once.
        ``captured``: the frame's capture time (perf_counter): a recording delays sound by the picture's latency."""
        if captured is not None:
            self.audio.note_frame(captured)
        bgra: np.ndarray | None = None
        for sink in self.all():
            if not sink.carries_alpha:
                sink.submit(frame_bgr)
                continue
            if bgra is None:
                bgra = frame_bgra() if frame_bgra is not None else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2BGRA)
            sink.submit(bgra)

    def show_lost(self) -> None:
        for sink in self.all():
            sink.show_lost()

    def close_all(self) -> None:
        with self._lock:
            names = list(self._sinks)
        for name in names:
            self.set(name, None)
