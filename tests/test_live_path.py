"""A live frame goes one way from camera to sink (issue 28).

The session wires the stages once; the pipeline hands each result forward to the next
stage and nothing calls back into a module the frame has already left. Read from the
real call stacks of a real session on a real clip, and from a real pipeline run.
"""

from __future__ import annotations

import threading
import time
import traceback
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.frames import VideoFrame
from app.live.pipeline import run_keyframe_pipeline
from app.live.processor import LiveProcessor
from app.live.session import LiveSession
from app.live.settings import FileSpec, LiveSettings
from app.pipeline import Processed, StageTimes
from tests.clips import write_clip

ROOT = Path(__file__).resolve().parents[1]
FRAMES_SEEN = 8


def our_modules(stack: traceback.StackSummary) -> list[str]:
    """The project's modules on a call stack, outermost first, each run of calls inside one module once."""
    names: list[str] = []
    for entry in stack:
        path = Path(entry.filename).resolve()
        if ROOT not in path.parents or path.parts[len(ROOT.parts)] in ("tests", ".venv"):
            continue
        name = str(path.relative_to(ROOT))
        if not names or names[-1] != name:
            names.append(name)
    return names


def test_the_stack_reader_sees_a_module_entered_twice():
    """The reader itself: session -> pipeline -> session, as the frame went before, is seen."""
    made = traceback.StackSummary.from_list([(str(ROOT / f), 1, "f", "") for f in
                                            ("app/live/session.py", "app/live/pipeline.py", "app/live/session.py")])
    names = our_modules(made)
    assert names == ["app/live/session.py", "app/live/pipeline.py", "app/live/session.py"]
    assert len(set(names)) < len(names)


@pytest.mark.parametrize("model_fps", ["every", "auto"])
def test_a_frame_reaches_the_preview_without_going_back_into_a_module(tmp_path, model_fps):
    """Each frame handed to ``on_frame`` (the window's preview) got there through modules the
    frame entered once each: the session calls the pipeline, which hands forward to the
    delivery; before, the pipeline called the session's ``_deliver`` back."""
    clip = write_clip(tmp_path / "clip.mp4", frames=24, size=(160, 120), rate=Fraction(24), audio=())
    processor = LiveProcessor(LiveSettings(style="toon-lite", mode="background", stability=0.0, device="cpu",
                                           model_fps=model_fps))
    stacks: list[list[str]] = []
    enough = threading.Event()

    def on_frame(processed: Processed) -> None:
        stacks.append(our_modules(traceback.extract_stack()))
        if len(stacks) >= FRAMES_SEEN:
            enough.set()

    session = LiveSession(FileSpec(clip), processor, on_frame=on_frame)
    runner = threading.Thread(target=session.run)
    runner.start()
    try:
        assert enough.wait(120), f"{len(stacks)} frames in 120 s"
    finally:
        session.stop()
        runner.join(30)
    for names in stacks:
        assert len(set(names)) == len(names), names
        assert names[-3:] == ["app/live/session.py", "app/live/pipeline.py", "app/live/delivery.py"], names


def test_the_mirror_is_made_once_for_both_threads():
    """With ``mirror``, the model stage and the output stage get the same mirrored picture:
    the capture thread mirrors each frame once. Before, the bare model stage got the camera
    as it was (the mirror was the live processor's, and the output thread's again)."""
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (48, 64, 3), np.uint8)
    source = [np.roll(base, i, axis=1) for i in range(30)]
    model_saw: dict[int, np.ndarray] = {}
    sink_saw: dict[int, np.ndarray] = {}

    def process(frame: VideoFrame) -> Processed:
        model_saw[frame.index] = frame.image
        return Processed(frame, frame.image, frame.image)

    def sink(processed: Processed) -> None:
        sink_saw[processed.frame.index] = processed.frame.image

    def frames():
        """A camera's pace, so keyframes arrive while later frames are still coming."""
        for i, image in enumerate(source):
            time.sleep(1 / 30)
            yield VideoFrame(image, i, i / 30.0, i)

    settings = SimpleNamespace(model_fps="auto", mirror=True)
    run_keyframe_pipeline(frames(), process, sink, threading.Event(), lambda: settings, StageTimes())
    assert model_saw and sink_saw
    for seen in (model_saw, sink_saw):
        for index, image in seen.items():
            assert np.array_equal(image, source[index][:, ::-1]), index
