"""Times one first-run candidate the way the window will run it: :func:`live_rates`.

What is timed, and why:

- **The picture is the user's own source**: the camera or file the window is about to
  show, opened for each candidate as a session opens it. It is the only real picture
  of a face LiveToon can use at run time without shipping someone's photograph (the
  package holds none, and the sample clips the benchmarks use are not ours to ship),
  and it is the very picture that will be stylized: its size, its face(s), its motion,
  and what capturing or decoding it costs. A synthetic pattern has no face, so the
  face finder and the head model, most of the cost, were never timed, and it has no
  motion for the carried frames to follow. (A first version replayed the source's
  first two seconds from memory: that leaves out the decoding or capture the window
  pays, and does not follow a live camera's motion.)
- **The figure is the one the window's overlay shows**: output frames a second from the
  session's :class:`~app.live.sink_set.RateMeter`, read every half second as the window's
  stats timer does, through the same :func:`~app.live.pipeline.run_keyframe_pipeline`
  with the same processor and settings, each frame handed to ``on_frame`` (the window
  paints it, so painting costs what it will cost).
- **What a carried frame looks like** at the model rate reached: each model frame is
  compared with the carried frame the window showed for the same camera frame, the
  oldest carry just before it is replaced (PSNR, :attr:`Rates.carried_db`). Carried
  frames are never the raw camera where the warp fails (the fill stylizes,
  :mod:`flow.propagate`), so this is a cartoon against a cartoon.
- **The model's rate** is the median of the model runs in that time. A candidate that
  has not shown :data:`SHOWN_SECONDS` of output and one such comparison within
  :data:`MAX_RUN_S` is a slideshow here, and is measured as one.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from common.errors import LiveToonError
from dctnet.styles import StyleRegistry
from flow.metrics import psnr

from app.frames import VideoFrame
from app.live.pipeline import run_keyframe_pipeline
from app.live.processor import LiveProcessor
from app.live.sink_set import RateMeter
from app.live.settings import EVERY_FRAME, LiveSettings, SourceSpec
from app.live.sources import open_source
from app.pipeline import Processed, StageTimes
from app.workers import Crew

READ_TIMEOUT_S = 10.0
"""A source that gives no frame in this time is not timed on (:class:`NoPicture`)."""
SHOWN_SECONDS = 3.0
"""Overlay readings taken: six, as the window reads it twice a second."""
OVERLAY_PERIOD_S = 0.5
"""The window's stats timer (``MainWindow.stats_timer``)."""
MAX_RUN_S = 12.0
"""The longest one candidate is run: a model slower than about 6 s a frame is not measured further."""
COMPARE_SIZE = (320, 180)
"""Carried and model frames are compared at this size: what a viewer sees of the cartoon
(its shapes and colours), without the cost of keeping full frames."""
KEPT_CARRIED = 150
"""Carried frames kept for the comparison (the newest): five seconds at 30 fps."""


class FitCancelled(Exception):
    """The window closed during the timing: nothing is chosen."""


class NoPicture(LiveToonError):
    """The source gave no frame to time on."""


@dataclass(frozen=True)
class Candidate:
    style: str
    max_size: int
    model_fps: str
    """``auto`` (frames carried along the motion between model frames) or ``every``."""


@dataclass(frozen=True)
class Rates:
    shown_fps: float
    """What the window's overlay showed: output frames a second (median of its readings)."""
    model_fps: float
    """Model frames a second (in ``every`` mode the same as the output)."""
    carried_db: float | None = None
    """Mean PSNR of the oldest carried frames against the model's frame of the same camera
    picture; None when no pair was seen (``every``: nothing is carried)."""


def small(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, COMPARE_SIZE, interpolation=cv2.INTER_AREA)


class Watched:
    """What the window would have shown: the overlay's readings, model frames and carried ones."""

    def __init__(self, processor: LiveProcessor, on_frame: Callable[[Processed], None] | None) -> None:
        self.processor, self.on_frame = processor, on_frame
        self.meter = RateMeter()
        self.first_out: float | None = None
        self.model_frames: dict[int, np.ndarray] = {}
        self.carried: dict[int, np.ndarray] = {}
        self.lock = threading.Lock()

    def process(self, frame: VideoFrame) -> Processed:
        """The model thread's call: the processor, keeping a small copy of its frame."""
        result = self.processor(frame)
        with self.lock:
            self.model_frames[frame.index] = small(result.output)
        return result

    def show(self, processed: Processed) -> None:
        """The window's sink: the first frame out starts the overlay's clock."""
        if self.on_frame is not None:
            self.on_frame(processed)
        if self.first_out is None:
            self.first_out = time.perf_counter()
        if processed.propagated:
            with self.lock:
                self.carried[processed.frame.index] = small(processed.output)
                self.carried.pop(processed.frame.index - KEPT_CARRIED, None)

    def carried_db(self) -> float | None:
        with self.lock:
            pairs = [psnr(self.carried[i], image) for i, image in self.model_frames.items() if i in self.carried]
        return statistics.mean(pairs) if pairs else None


def live_rates(registry: StyleRegistry, candidate: Candidate, spec: SourceSpec,
               cancel: threading.Event | None = None, on_frame: Callable[[Processed], None] | None = None) -> Rates:
    """Run ``candidate`` on the CPU on ``spec`` as the window would and read its overlay (see
    the module doc).

    The style is loaded and the face finder started on the source's first frame before
    the clock runs (the window shows its "starting..." then too); ``cancel`` is looked at
    every overlay period. Raises what opening ``spec`` raises, and :class:`NoPicture`.
    """
    settings = LiveSettings(style=candidate.style, max_size=candidate.max_size, device="cpu",
                            model_fps=candidate.model_fps)
    times = StageTimes()
    processor = LiveProcessor(settings, registry, times=times)
    stop = threading.Event()
    crew = Crew(stop)  # the pipeline's error is raised here, after the clean-up
    watched = Watched(processor, on_frame)

    source = open_source(spec)
    frames = source.frames(stop)
    no_frame = threading.Timer(READ_TIMEOUT_S, stop.set)

    def pipeline() -> None:
        run_keyframe_pipeline(frames, watched.process, watched.show, stop, processor.read_settings, times,
                              on_latency=watched.meter.add, composite=processor.composite_carried)

    try:
        no_frame.start()
        first = next(frames, None)
        no_frame.cancel()
        if first is None:
            raise NoPicture(f"no picture from {spec.key} in {READ_TIMEOUT_S:g} s")
        processor.apply_settings()
        processor(first)  # loads the face finder: not timed
        processor.reset()
        times.samples.clear()
        started = time.perf_counter()
        crew.start(pipeline, "fit-pipeline")
        readings = watch(watched, started, candidate.model_fps != EVERY_FRAME, cancel)
    finally:
        no_frame.cancel()
        crew.join()
        frames.close()
        source.close()
        processor.close()
    crew.raise_first()
    shown = statistics.median(readings) if readings else 0.0
    if candidate.model_fps == EVERY_FRAME:
        return Rates(shown, shown)
    model = list(times.samples.get("model", ()))
    return Rates(shown, 1000.0 / statistics.median(model) if model else 1.0 / MAX_RUN_S, watched.carried_db())


def watch(watched: Watched, started: float, compare: bool, cancel: threading.Event | None) -> list[float]:
    """The overlay's readings (fps), from one meter window after the first frame out (the
    window's first second shows the rise from nothing), until :data:`SHOWN_SECONDS` of them
    and (``compare``) one carried frame compared, or :data:`MAX_RUN_S`."""
    readings: list[float] = []
    wanted = round(SHOWN_SECONDS / OVERLAY_PERIOD_S)
    while time.perf_counter() - started < MAX_RUN_S:
        if cancel is not None and cancel.wait(OVERLAY_PERIOD_S):
            raise FitCancelled
        if cancel is None:
            time.sleep(OVERLAY_PERIOD_S)
        first_out = watched.first_out
        if first_out is not None and time.perf_counter() - first_out >= watched.meter.window:
            readings.append(watched.meter.read()[0])
        if len(readings) >= wanted and (not compare or watched.carried_db() is not None):
            break
    return readings[-wanted:]
