"""What a live run does to the process and how it reads its mode (issue 30, items 15 and 18).

Real frames through the real three-thread pipeline (``run_keyframe_pipeline``) with the
real propagation stage; the processor is the identity, so only the pipeline is timed.
"""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from app.frames import VideoFrame
from app.live.pipeline import model_fps_of, run_keyframe_pipeline
from app.live.settings import EVERY_FRAME, LiveSettings
from app.pipeline import Processed, StageTimes
from app.process_setup import set_live_threads


def frames(count: int = 12) -> list[VideoFrame]:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (72, 96, 3), np.uint8)
    return [VideoFrame(np.roll(base, i, axis=1), pts=i, time=i / 30.0, index=i) for i in range(count)]


def run_pipeline(settings: object, process) -> list[Processed]:
    out: list[Processed] = []
    run_keyframe_pipeline(frames(), process, out.append, threading.Event(), lambda: settings, StageTimes())
    return out


def thread_sees() -> int:
    """torch's thread count as a thread started now gets it."""
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return seen[0]


@pytest.fixture
def torch_threads():
    """torch's process-wide thread count, put back after the test."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_the_model_thread_leaves_torch_s_thread_count_alone(torch_threads):
    """``torch.set_num_threads`` is process-wide: a live run's threads use what the entry point
    set, and threads started later still get it."""
    chosen = (os.cpu_count() or 1) + 3  # more than any per-thread choice of cores would pick
    torch.set_num_threads(chosen)
    seen: list[int] = []

    def process(frame: VideoFrame) -> Processed:
        seen.append(torch.get_num_threads())
        return Processed(frame, frame.image, frame.image)

    assert run_pipeline(SimpleNamespace(model_fps="auto"), process)
    assert seen and set(seen) == {chosen}, f"the model thread ran with {sorted(set(seen))} threads, not {chosen}"
    assert thread_sees() == chosen, "a live run changed torch's threads for every thread started after it"


def test_a_live_entry_point_sets_torch_s_threads_once_leaving_a_core(torch_threads):
    cores = os.cpu_count() or 2
    assert set_live_threads(frames_carried=True) == max(1, min(torch_threads, cores - 1))
    assert torch.get_num_threads() == thread_sees() == max(1, min(torch_threads, cores - 1))
    torch.set_num_threads(torch_threads)
    assert set_live_threads(frames_carried=False) == torch_threads, "with only model frames going out: all of them"


def test_settings_that_name_no_model_fps_mean_every_for_both_threads():
    """One fallback: LiveSettings' default. The model thread once read 'auto' where the output
    thread read 'every', so it lowered its own priority for an output that did not need it."""
    assert model_fps_of(SimpleNamespace()) == EVERY_FRAME == LiveSettings().model_fps
    normal = os.getpriority(os.PRIO_PROCESS, 0)
    priorities: list[int] = []

    def process(frame: VideoFrame) -> Processed:
        priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return Processed(frame, frame.image, frame.image)

    out = run_pipeline(SimpleNamespace(), process)
    assert out and not any(p.propagated for p in out), "'every': only the model's frames go out"
    assert priorities and set(priorities) == {normal}, "the model thread ran as in 'auto' (lowered priority)"


@pytest.mark.parametrize("model_fps, leaves_a_core", [("auto", True), ("every", False)])
def test_livetoon_live_sets_torch_s_threads_at_its_start(torch_threads, tmp_path, model_fps, leaves_a_core):
    from fractions import Fraction

    from app.commands.cli import main
    from tests.clips import write_clip

    clip = write_clip(tmp_path / "clip.mp4", frames=6, size=(96, 72), rate=Fraction(24), audio=())
    assert main(["live", "--input", str(clip), "--duration", "1", "--model-fps", model_fps, "--style", "toon-lite",
                 "--device", "cpu"]) == 0
    cores = os.cpu_count() or 2
    expected = max(1, min(torch_threads, cores - 1)) if leaves_a_core else torch_threads
    assert torch.get_num_threads() == thread_sees() == expected
