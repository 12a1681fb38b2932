"""The worker threads' error policy (app/workers.py): a thread's error is never lost.

``Crew``: the threads of one call (both pipelines' stages) stop together on the first
error, which is raised in the caller after every thread has ended.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from common.errors import LiveToonError

from app.files.pipeline import run_file_pipeline
from app.frames import VideoFrame
from app.live.pipeline import run_keyframe_pipeline
from app.pipeline import Processed, StageTimes
from app.workers import Crew


def frames(count: int, broken_at: int | None = None):
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (32, 48, 3), np.uint8)
    for i in range(count):
        if i == broken_at:
            raise LiveToonError(f"clip.mp4: frame {i} cannot be decoded")
        yield VideoFrame(np.roll(base, i, axis=1), i, i / 30.0, i)


def test_the_first_error_stops_every_member_and_is_raised_in_the_caller():
    stop = threading.Event()
    crew = Crew(stop)
    waited: list[bool] = []

    def fails() -> None:
        raise ValueError("first")

    crew.start(lambda: waited.append(stop.wait(30)), "waits")
    crew.start(fails, "fails")
    started = time.perf_counter()
    crew.join()
    assert waited == [True] and time.perf_counter() - started < 10, "the waiting member was stopped"
    with pytest.raises(ValueError, match="first"):
        crew.raise_first()


class Identity:
    """The chain's interface for the file pipeline, each frame out as it came in."""

    def __init__(self) -> None:
        self.times = StageTimes()

    def push(self, frame: VideoFrame) -> list[Processed]:
        return [Processed(frame, frame.image, frame.image)]

    def finish(self) -> list[Processed]:
        return []


def test_a_decode_error_reaches_convert_s_caller():
    written: list[int] = []
    with pytest.raises(LiveToonError, match="frame 5 cannot be decoded"):
        run_file_pipeline(frames(20, broken_at=5), Identity(), lambda p: written.append(p.frame.index))
    assert written == list(range(len(written))) and len(written) <= 5


def test_an_encoder_error_reaches_convert_s_caller():
    def sink(processed: Processed) -> None:
        if processed.frame.index == 3:
            raise LiveToonError("out.mp4: disk full")

    with pytest.raises(LiveToonError, match="disk full"):
        run_file_pipeline(frames(40), Identity(), sink)


def test_a_model_error_ends_the_live_pipeline_in_its_caller():
    def process(frame: VideoFrame) -> Processed:
        if frame.index >= 4:
            raise RuntimeError("CUDA error: out of memory")
        return Processed(frame, frame.image, frame.image)

    stop = threading.Event()
    with pytest.raises(RuntimeError, match="out of memory"):
        run_keyframe_pipeline(frames(1000), process, lambda p: None, stop,
                              lambda: SimpleNamespace(model_fps="every"), StageTimes())
    assert stop.is_set()
