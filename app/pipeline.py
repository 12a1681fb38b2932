"""Source -> FaceTracker -> (PersonMatte) -> Stylizer -> Stabilizer -> (Compositor) -> Sink, in two modes.

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

import cv2
import numpy as np

from dctnet.engine import Stylizer
from dctnet.tracking import FaceTracker
from flow.estimate import DEFAULT_MAX_SIDE, FlowPair, SequenceFlow
from flow.stabilize import Stabilizer

from app.compositing import Compositor, face_centre
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
    output: np.ndarray  # what goes to the sinks (opaque: with transparent, the person over the key colour)
    propagated: bool = False  # carried from an earlier model frame along the motion (app.live.pipeline)
    alpha: np.ndarray | None = None
    """With ``--background transparent``: the person matte, uint8 HxW at the output's size
    (255 = person); None when the output is opaque."""
    foreground: np.ndarray | None = None
    """With an alpha: the cartoon's own colours under it (not mixed with the key colour), for
    outputs that carry alpha; None otherwise."""

    def bgra(self) -> np.ndarray:
        """The output as BGRA: the foreground's colours with the alpha, or opaque when there is none."""
        if self.alpha is None:
            return cv2.cvtColor(self.output, cv2.COLOR_BGR2BGRA)
        colour = self.foreground if self.foreground is not None else self.output
        return cv2.merge([*cv2.split(colour), self.alpha])


class FrameProcessor:
    """The per-frame chain, shared by file conversion and the live app.

    The input's motion is estimated once per frame here and shared by every stage
    that needs it (the stabilizer and the person matte), never computed twice.
    With a ``compositor`` (a background other than ``keep``) the person matte runs
    before the model, which then stylizes only the person's boxes, and the cartoon
    person is put over the chosen background after stabilization.
    """

    def __init__(self, stylizer: Stylizer, tracker: FaceTracker | None, stabilizer: Stabilizer | None,
                 times: StageTimes | None = None, compositor: Compositor | None = None) -> None:
        self.stylizer, self.tracker, self.stabilizer = stylizer, tracker, stabilizer
        self.compositor = compositor
        self.times = times or StageTimes()
        self.motion = SequenceFlow(DEFAULT_MAX_SIDE, both_ways=False)

    def _motion(self, image: np.ndarray) -> FlowPair | None:
        """This frame's motion when a stage needs it; otherwise the flow forgets, so it never
        relates frames far apart when a stage is switched back on."""
        if self.compositor is not None or (self.stabilizer is not None and self.stabilizer.strength > 0.0):
            return self.motion(image)
        self.motion.reset()
        return None

    def __call__(self, frame: VideoFrame) -> Processed:
        started = time.perf_counter()
        faces = self.tracker.update(frame.image, frame.time) if self.tracker else []
        faced = time.perf_counter()
        motion = self._motion(frame.image)
        moved = time.perf_counter()
        matte = None
        if self.compositor is not None:
            matte = self.compositor.matte(frame.image, motion, face_centre(faces[0]) if faces else None, frame.time)
        matted = time.perf_counter()
        styled = self.stylizer.stylize(frame.image, faces, region=matte.boxes if matte else None)
        stylized = time.perf_counter()
        output = self.stabilizer.step(motion, styled, frame.time) if self.stabilizer else styled
        stabilized = time.perf_counter()
        self.times.add("face", faced - started)
        self.times.add("flow", moved - faced)
        self.times.add("stylize", stylized - matted)
        self.times.add("stabilize", stabilized - stylized)
        if matte is None:
            return Processed(frame, styled, output)
        self.times.add("matte", matted - moved)
        composed, alpha = self.compositor.compose(frame.image, output, matte, self.stylizer)
        self.times.add("composite", time.perf_counter() - stabilized)
        return Processed(frame, styled, composed, alpha=alpha, foreground=output if alpha is not None else None)

    def reset(self) -> None:
        """New clip: forget the tracked face and the temporal history."""
        self.motion.reset()
        if self.tracker:
            self.tracker.reset()
        if self.stabilizer:
            self.stabilizer.reset()
        if self.compositor:
            self.compositor.reset()


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
