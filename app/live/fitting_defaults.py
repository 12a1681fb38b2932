"""First-run settings that fit the machine: the full look on a GPU, a usable rate without one.

`toon` at 720p is the best look but runs at about 1 fps on a laptop CPU, a slideshow a
new streamer takes for a broken app. So on first run (and after "Reset settings")
without CUDA, a few frames are timed for each candidate, best look first, and the
first one fast enough is chosen; the one-line reason says what was measured.

The live chain (face finding, model, temporal stability) is timed on a 720p frame, what
a webcam gives. In the window, capture and painting share the CPU too, hence a target
above the 5 fps that still reads as motion.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from dctnet.device import cuda_unavailable_reason
from dctnet.engine import DEFAULT_MAX_SIZE
from dctnet.styles import DEFAULT_STYLE, FILTER_STYLE, StyleRegistry

from app.frames import VideoFrame
from app.live.session import LiveProcessor
from app.live.settings import LiveSettings

LADDERS = ((DEFAULT_STYLE, (480, 720)), ("toon-lite", (360, 480)))
"""Best look first; within a style, small sizes first: a size is timed only when the one
below it was fast enough (toon at 720p takes seconds a frame on a busy CPU)."""
FALLBACK = (FILTER_STYLE, 360)
"""The cheapest there is: a filter, no network."""
TARGET_FPS = 8.0
TIMED_FRAMES = 5
SLIDESHOW_S = 1.0
CAMERA_SIZE = (1280, 720)


@dataclass(frozen=True)
class Fit:
    style: str
    max_size: int
    reason: str
    """One line for the window: what was chosen, and why."""


def camera_like_frame(width: int = CAMERA_SIZE[0], height: int = CAMERA_SIZE[1]) -> np.ndarray:
    """A 720p frame with edges and texture (a flat frame could let a style take shortcuts)."""
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.stack([(cols * 255 // width), (rows * 255 // height), ((rows // 40 + cols // 40) % 2) * 200], axis=-1)
    noise = np.random.default_rng(0).integers(0, 40, (height, width, 3))
    return (image + noise).clip(0, 255).astype(np.uint8)


class FitCancelled(Exception):
    """The window closed during the timing: nothing is chosen."""


def live_fps(registry: StyleRegistry, style: str, max_size: int, frame: np.ndarray,
             cancel: threading.Event | None = None) -> float:
    """Frames per second of the live chain (face finding, model, stability) with ``style`` at
    ``max_size`` and every other setting at its default, on the CPU, after two warm-up frames.

    A second frame slower than a second ends the timing early: the slow candidates (toon
    at 720p: seconds a frame on a busy CPU) must not make the first start slow. ``cancel``
    is looked at before every frame (:class:`FitCancelled`), so a closing window waits
    for one frame at most.
    """
    processor = LiveProcessor(LiveSettings(style=style, max_size=max_size, device="cpu"), registry)

    def timed(index: int) -> float:
        if cancel is not None and cancel.is_set():
            raise FitCancelled
        started = time.perf_counter()
        processor(VideoFrame(frame, index, index / 30, index))
        return time.perf_counter() - started

    try:
        timed(0)  # loads the model and the face finder: not timed
        warm_up = timed(1)
        if warm_up > SLIDESHOW_S:
            return 1 / warm_up
        took = [timed(index) for index in range(2, TIMED_FRAMES + 2)]
        return 1 / statistics.median(took)  # a median: a busy machine's one slow frame says little
    finally:
        processor.close()


Measure = Callable[[StyleRegistry, str, int, np.ndarray, "threading.Event | None"], float]
"""How fast a style runs at a size (:func:`live_fps`; a test hands in its own measurements)."""


def fit_defaults(registry: StyleRegistry, cancel: threading.Event | None = None, measure: Measure = live_fps) -> Fit:
    """The settings a new user starts with on this machine (seconds on a CPU; instant on a
    GPU). Raises :class:`FitCancelled` once ``cancel`` is set."""
    if cuda_unavailable_reason() is None:
        return Fit(DEFAULT_STYLE, DEFAULT_MAX_SIZE, f"GPU found: the full look ({DEFAULT_STYLE} at {DEFAULT_MAX_SIZE}p).")
    frame = camera_like_frame()
    for style, sizes in LADDERS:
        fast = list(climb(registry, style, sizes, frame, cancel, measure))
        if fast:
            return chosen(style, *fast[-1])
    return chosen(*FALLBACK, measure(registry, *FALLBACK, frame, cancel))


def climb(registry: StyleRegistry, style: str, sizes: tuple[int, ...], frame: np.ndarray,
          cancel: threading.Event | None, measure: Measure = live_fps) -> Iterator[tuple[int, float]]:
    """(size, fps) for each size, smallest first, while the target rate is met."""
    for size in sizes:
        fps = measure(registry, style, size, frame, cancel)
        if fps < TARGET_FPS:
            return
        yield size, fps


def chosen(style: str, size: int, fps: float) -> Fit:
    full = (style, size) == (DEFAULT_STYLE, DEFAULT_MAX_SIZE)
    slow = "" if full else f"; {DEFAULT_STYLE} at {DEFAULT_MAX_SIZE}p would be a slideshow here"
    return Fit(style, size, f"No GPU: chose {style} at {size}p ({fps:.1f} fps measured on this CPU{slow}). "
                            "Change it in the Look and Source tabs.")
