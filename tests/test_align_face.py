"""MediaPipe five points, the similarity alignment, the paste-back and the head mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dctnet.align import REFERENCE_POINTS, align_face, apply, head_mask, paste_back, similarity_transform
from dctnet.face import FaceDetector, main_face_score
from tests.conftest import REFERENCE_DIR, needs_reference


@pytest.fixture(scope="module")
def detector():
    with FaceDetector(static_image_mode=True) as d:
        yield d


def similarity(angle_deg: float, scale: float, tx: float, ty: float, center=(256, 256)) -> np.ndarray:
    matrix = cv2.getRotationMatrix2D(center, angle_deg, scale)
    matrix[:, 2] += (tx, ty)
    return matrix


def test_five_points_on_a_real_portrait(detector, astronaut_bgr):
    faces = detector.detect(astronaut_bgr)
    assert len(faces) == 1
    left_eye, right_eye, nose, left_mouth, right_mouth = faces[0].points
    assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])
    # The astronaut's face: eyes near (203,101) and (247,103) in the 512x512 photo.
    assert np.allclose(left_eye, (203, 101), atol=6) and np.allclose(right_eye, (247, 103), atol=6)


@pytest.mark.parametrize("pose", [(15, 1.0, 0, 0), (-20, 0.8, 30, -20), (8, 1.3, -40, 10), (0, 0.7, 60, 40)])
def test_alignment_puts_the_five_points_in_the_same_place_whatever_the_pose(detector, astronaut_bgr, pose):
    """Align the photo and a rotated/scaled/shifted copy: the aligned points agree within 2 px."""
    upright = detector.detect(astronaut_bgr)[0].points
    _, m_upright = align_face(astronaut_bgr, upright)
    moved = cv2.warpAffine(astronaut_bgr, similarity(*pose), (512, 512), borderMode=cv2.BORDER_REFLECT)
    moved_points = detector.detect(moved)[0].points
    _, m_moved = align_face(moved, moved_points)
    distance = np.linalg.norm(apply(m_moved, moved_points) - apply(m_upright, upright), axis=1)
    assert distance.max() < 2.0, f"aligned points moved by {distance.round(2)} px"
    # And the aligned points sit on the official template as well as a similarity allows.
    assert np.linalg.norm(apply(m_upright, upright) - REFERENCE_POINTS, axis=1).mean() < 12


def test_similarity_solver_recovers_known_transforms():
    rng = np.random.default_rng(7)
    src = rng.uniform(0, 300, (5, 2))
    for reflect in (False, True):
        known = similarity(33.0, 1.7, 12.5, -40.0, center=(0, 0))
        if reflect:
            known = known * np.array([[-1.0], [1.0]])
        fitted = similarity_transform(src, apply(known, src))
        assert np.allclose(fitted, known, atol=1e-6), (reflect, fitted, known)


def test_paste_back_is_the_inverse_of_align(detector, astronaut_bgr):
    frame = astronaut_bgr
    crop, matrix = align_face(frame, detector.detect(frame)[0].points)
    canvas = np.zeros_like(frame)
    ones = np.ones((288, 288), np.float32)
    pasted = paste_back(canvas, crop, matrix, ones)
    # Inside the footprint, away from its edges, the pasted crop is the original frame.
    inside = cv2.warpAffine(ones, matrix, (512, 512), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_NEAREST)
    interior = cv2.erode(inside, np.ones((7, 7), np.uint8)) > 0
    diff = np.abs(pasted.astype(int) - frame.astype(int))[interior]
    assert interior.sum() > 10000 and diff.mean() < 2.0, diff.mean()
    # Outside the footprint nothing changes, bit for bit.
    outside = cv2.dilate(inside, np.ones((5, 5), np.uint8)) == 0
    assert np.array_equal(pasted[outside], canvas[outside])


def test_paste_back_with_the_head_mask_touches_only_the_face(detector, astronaut_bgr):
    frame = astronaut_bgr
    crop, matrix = align_face(frame, detector.detect(frame)[0].points)
    white = np.full_like(crop, 255)
    pasted = paste_back(frame, white, matrix, head_mask())
    changed = np.any(pasted != frame, axis=2)
    ys, xs = np.nonzero(changed)
    assert 150 < xs.mean() < 270 and 60 < ys.mean() < 190, "blend centred on the face"
    assert changed[:, :100].sum() == 0 and changed[300:].sum() == 0


@needs_reference
def test_generated_mask_matches_the_official_one():
    official = cv2.imread(str(REFERENCE_DIR / "alpha.jpg"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    mask = head_mask()
    assert mask.shape == official.shape and mask.dtype == np.float32
    assert np.abs(mask - official).mean() <= 0.03


def test_mask_is_soft_and_centred():
    mask = head_mask()
    assert mask[144, 144] > 0.99 and mask[0, 0] < 0.01 and mask[144, 0] < 0.05
    assert 0.2 < mask[144, 50] < 0.8, "soft edge, not a hard cut"
    assert np.allclose(mask, mask[:, ::-1], atol=1e-3)


def test_no_face_and_tiny_face(detector, astronaut_bgr):
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    tiny = cv2.resize(astronaut_bgr, (128, 128), interpolation=cv2.INTER_AREA)  # face about 25 px wide
    canvas = np.full((480, 640, 3), 200, np.uint8)
    canvas[100:228, 100:228] = tiny
    assert detector.detect(canvas) == []


def test_main_face_prefers_large_and_central():
    from dctnet.face import Face

    pts = np.zeros((5, 2), np.float32)
    central = Face(pts, (280, 200, 360, 280))
    edge_larger = Face(pts, (0, 0, 100, 100))
    assert main_face_score(central, (480, 640)) > main_face_score(edge_larger, (480, 640))
