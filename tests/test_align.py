"""The similarity alignment, the paste-back and the generated head mask, on a real photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dctnet.align import REFERENCE_POINTS, align_face, apply, head_mask, paste_back, similarity_transform
from faces.finder import FaceDetector
from tests.conftest import REFERENCE_DIR, import_or_skip_unless_ci, needs_reference

# Measured on the astronaut (MediaPipe points): per-point distance to the template
# after alignment is 4.8, 5.2, 12.9, 13.3, 13.8 px (mean 10.0). A similarity cannot
# do better: her broad smile puts the mouth corners high and wide, the template is
# an average face. So the template check bounds the fit; the 2 px check is on pose.
TEMPLATE_MEAN_PX, TEMPLATE_MAX_PX = 11.0, 15.0


def similarity(angle_deg: float, scale: float, tx: float, ty: float, center=(256.0, 256.0)) -> np.ndarray:
    """A 2x3 rotation+scale about ``center``, then a shift."""
    matrix = cv2.getRotationMatrix2D(center, angle_deg, scale)
    matrix[:, 2] += (tx, ty)
    return matrix


@pytest.fixture(scope="module")
def astronaut_points(astronaut_bgr) -> np.ndarray:
    import_or_skip_unless_ci("mediapipe", "MediaPipe is not installed (the numpy-2 GPU-image venv)")
    with FaceDetector(static_image_mode=True) as detector:
        return detector.detect(astronaut_bgr)[0].points


@pytest.mark.parametrize("reflect", [False, True])
def test_similarity_transform_recovers_a_known_transform(reflect):
    src = np.random.default_rng(7).uniform(0, 300, (5, 2))
    known = similarity(33.0, 1.7, 12.5, -40.0, center=(0.0, 0.0))
    if reflect:  # only the reflective branch can fit this exactly
        known = known * np.array([[-1.0], [1.0]])
    assert np.allclose(similarity_transform(src, apply(known, src)), known, atol=1e-6)


def test_alignment_puts_the_points_on_the_template(astronaut_bgr, astronaut_points):
    crop, matrix = align_face(astronaut_bgr, astronaut_points)
    assert crop.shape == (288, 288, 3) and crop.dtype == np.uint8
    error = np.linalg.norm(apply(matrix, astronaut_points) - REFERENCE_POINTS, axis=1)
    assert error.mean() < TEMPLATE_MEAN_PX and error.max() < TEMPLATE_MAX_PX, error.round(2)


POSES = {  # angle, scale, shift, centre, output size
    "rotated-shrunk-shifted": ((-20, 0.8, 30, -20, (256.0, 256.0)), (512, 512)),
    "upscaled-rotated": ((8, 2.0, -40, 10, (0.0, 0.0)), (1024, 1024)),
}


@pytest.mark.parametrize("pose", POSES)
def test_alignment_is_the_same_whatever_the_pose(astronaut_bgr, astronaut_points, pose):
    """A moved copy of the photo aligns its points within 2 px of where the original's go."""
    _, m_upright = align_face(astronaut_bgr, astronaut_points)
    params, size = POSES[pose]
    moved = cv2.warpAffine(astronaut_bgr, similarity(*params), size, borderMode=cv2.BORDER_REFLECT)
    with FaceDetector(static_image_mode=True) as detector:
        moved_points = detector.detect(moved)[0].points
    _, m_moved = align_face(moved, moved_points)
    distance = np.linalg.norm(apply(m_moved, moved_points) - apply(m_upright, astronaut_points), axis=1)
    assert distance.max() < 2.0, distance.round(2)


def test_paste_back_inverts_align_and_touches_only_the_footprint(astronaut_bgr, astronaut_points):
    frame = astronaut_bgr
    crop, matrix = align_face(frame, astronaut_points)
    canvas = np.zeros_like(frame)
    ones = np.ones((288, 288), np.float32)
    pasted = paste_back(canvas, crop, matrix, ones)
    footprint = cv2.warpAffine(ones, cv2.invertAffineTransform(matrix), (512, 512), flags=cv2.INTER_NEAREST)
    interior = cv2.erode(footprint, np.ones((7, 7), np.uint8)) > 0
    diff = np.abs(pasted.astype(int) - frame.astype(int))[interior]
    assert interior.sum() > 10000 and diff.mean() < 2.0, diff.mean()
    outside = cv2.dilate(footprint, np.ones((5, 5), np.uint8)) == 0
    assert np.array_equal(pasted[outside], canvas[outside])


def test_paste_back_with_a_crop_hanging_off_the_frame(astronaut_bgr, astronaut_points):
    """White pasted through the head mask: each frame pixel becomes ``m * 255 + (1 - m) * pixel``,
    ``m`` the mask where that pixel lands in the crop, computed here apart from OpenCV (SciPy's
    bilinear sampling, 0 off the crop); nothing wraps round from the part off the frame."""
    from scipy.ndimage import map_coordinates

    frame = np.ascontiguousarray(astronaut_bgr[:150, 150:])  # the crop's footprint runs off the bottom and left edges
    crop, matrix = align_face(frame, astronaut_points - (150, 0))
    corners = apply(cv2.invertAffineTransform(matrix), np.array([(0, 0), (288, 0), (0, 288), (288, 288)], float))
    assert corners[:, 0].min() < 0 and corners[:, 1].max() > frame.shape[0], "the crop hangs off left and bottom"
    pasted = paste_back(frame, np.full_like(crop, 255), matrix, head_mask())
    ys, xs = np.mgrid[0:frame.shape[0], 0:frame.shape[1]].astype(np.float64)
    in_crop = [matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2], matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]]
    m = map_coordinates(np.asarray(head_mask(), np.float64), in_crop, order=1, mode="grid-constant", cval=0.0)[..., None]
    expected = m * 255.0 + (1.0 - m) * frame
    diff = np.abs(pasted.astype(np.float64) - expected)
    assert (m > 0.5).sum() > 3000, "a good part of the head lies on the frame"
    # OpenCV samples with 1/32-pixel weights: a few pixels at the crop's edge differ by up to 10 levels
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 2 and diff.max() <= 12, (diff.mean(), diff.max())
    far = m[..., 0] == 0
    assert far.sum() > 3000 and np.array_equal(pasted[far], frame[far]), "off the mask: the frame, bit for bit"


@needs_reference
def test_generated_mask_matches_the_official_one():
    official = cv2.imread(str(REFERENCE_DIR / "alpha.jpg"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    mask = head_mask()
    assert mask.shape == official.shape and mask.dtype == np.float32
    assert np.abs(mask - official).mean() <= 0.015


def test_mask_is_soft_centred_and_cached():
    mask = head_mask()
    assert mask.min() >= 0.0 and mask.max() <= 1.0 and head_mask() is mask
    assert mask[144, 144] > 0.99 and mask[0, 0] < 0.01
    assert 0.2 < mask[144, 48] < 0.8, "soft edge, not a hard cut"
    assert np.allclose(mask, mask[:, ::-1], atol=1e-3) and np.allclose(mask, mask[::-1], atol=1e-3)
