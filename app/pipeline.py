"""Source -> FaceTracker -> Stylizer -> Stabilizer -> Sink, in two modes.

File mode: every frame, in order, nothing dropped, timestamps kept. Decoding runs on
its own thread and encoding on another, so the model (the slow part) never waits
for I/O; the queues between them are bounded, so memory stays flat on long files.

Live mode (``app.live.pipeline``, built on the one-frame mailbox here): the model
always takes the newest frame and older ones are dropped, so latency stays about
one processing time however slow the model is; every camera frame can still go
out, carried along the motion from the newest model frame.

In both, any stage's error stops all stages and is re-raised in the caller; so is
Ctrl-C, after the threads have stopped, so the caller can finalize a partial file.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from dctnet.engine import Stylizer
from dctnet.tracking import FaceTracker
from flow.stabilize import Stabilizer

from app.frames import VideoFrame

QUEUE_DEPTH = 4
WINDOW = 4096
"""Timing samples kept per stage: a rolling window, so a long live run stays flat."""
POLL_SECONDS = 0.1
END = object()


@dataclass
class StageTimes:
    """Milliseconds per stage per frame; medians and p95 for ``bench`` and the GUI."""

    samples: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(lambda: deque(maxlen=WINDOW)))

    def add(self, stage: str, seconds: float) -> None:
        self.samples[stage].append(seconds * 1000.0)

    def summary(self) -> dict[str, tuple[float, float]]:
        return {k: (float(np.median(v)), float(np.percentile(v, 95))) for k, v in self.samples.items() if v}


@dataclass
class Processed:
    frame: VideoFrame
    styled: np.ndarray  # the per-frame output, before stabilization
    output: np.ndarray  # what goes to the sinks
    propagated: bool = False  # carried from an earlier model frame along the motion (app.live.pipeline)


class FrameProcessor:
    """The per-frame chain, shared by file conversion and the live app."""

    def __init__(self, stylizer: Stylizer, tracker: FaceTracker | None, stabilizer: Stabilizer | None,
                 times: StageTimes | None = None) -> None:
        self.stylizer, self.tracker, self.stabilizer = stylizer, tracker, stabilizer
        self.times = times or StageTimes()

    def __call__(self, frame: VideoFrame) -> Processed:
        started = time.perf_counter()
        faces = self.tracker.update(frame.image, frame.time) if self.tracker else []
        faced = time.perf_counter()
        styled = self.stylizer.stylize(frame.image, faces)
        stylized = time.perf_counter()
        output = self.stabilizer(frame.image, styled, frame.time) if self.stabilizer else styled
        self.times.add("face", faced - started)
        self.times.add("stylize", stylized - faced)
        self.times.add("stabilize", time.perf_counter() - stylized)
        return Processed(frame, styled, output)

    def reset(self) -> None:
        """New clip: forget the tracked face and the temporal history."""
        if self.tracker:
            self.tracker.reset()
        if self.stabilizer:
            self.stabilizer.reset()


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event) -> object:
    while not stop.is_set():
        try:
            return q.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
    return END


def run_file_pipeline(
    frames: Iterable[VideoFrame],
    process: FrameProcessor,
    sink: Callable[[Processed], None],
    on_frame: Callable[[int], None] | None = None,
) -> int:
    """Push every frame through ``process`` into ``sink``; returns the frame count."""
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(QUEUE_DEPTH)
    finished: queue.Queue = queue.Queue(QUEUE_DEPTH)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            iterator: Iterator[VideoFrame] = iter(frames)
            while not stop.is_set():
                started = time.perf_counter()
                item = next(iterator, END)
                process.times.add("decode", time.perf_counter() - started)
                if not _put(decoded, item, stop) or item is END:
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
            stop.set()

    def write() -> None:
        try:
            while (item := _get(finished, stop)) is not END:
                started = time.perf_counter()
                sink(item)
                process.times.add("encode", time.perf_counter() - started)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=read, name="decode", daemon=True),
               threading.Thread(target=write, name="encode", daemon=True)]
    for thread in threads:
        thread.start()
    count = 0
    try:
        while (item := _get(decoded, stop)) is not END:
            if not _put(finished, process(item), stop):
                break
            count += 1
            if on_frame:
                on_frame(count)
        _put(finished, END, stop)
        threads[1].join()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return count


class LatestFrame:
    """A one-frame mailbox: ``put`` replaces what is there (and counts the drop)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: tuple[VideoFrame, float] | None = None
        self._ended = False
        self.dropped = 0

    def put(self, item: tuple[VideoFrame, float]) -> None:
        with self._cond:
            self.dropped += self._item is not None
            self._item = item
            self._cond.notify()

    def finish(self) -> None:
        """The source has ended: a waiting frame is still delivered, then END."""
        with self._cond:
            self._ended = True
            self._cond.notify()

    def take(self, stop: threading.Event) -> tuple[VideoFrame, float] | object:
        with self._cond:
            while self._item is None and not self._ended and not stop.is_set():
                self._cond.wait(POLL_SECONDS)
            item, self._item = self._item, None
            return END if item is None else item


@dataclass
class LiveStats:
    processed: int
    dropped: int
