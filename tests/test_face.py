"""MediaPipe FaceMesh reduced to the official five points, on a real photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faces.finder import Face, FaceDetector, main_face_score


@pytest.fixture(scope="module")
def detector():
    with FaceDetector(static_image_mode=True) as d:
        yield d


def check_five_points(points: np.ndarray) -> None:
    """Image-left eye first, nose below the eyes, mouth below the nose."""
    left_eye, right_eye, nose, left_mouth, right_mouth = points
    assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])


def test_one_main_face_with_five_points_in_order(detector, astronaut_bgr):
    faces = detector.detect(astronaut_bgr)
    assert len(faces) == 1
    face = faces[0]
    assert face.points.shape == (5, 2) and face.points.dtype == np.float32
    check_five_points(face.points)
    # Her pupils, read off the photo: about (203, 101) and (247, 103).
    assert np.allclose(face.points[:2], [(203, 101), (247, 103)], atol=6)
    x0, y0, x1, y1 = face.box
    assert x0 < face.points[:, 0].min() and face.points[:, 0].max() < x1 and y0 < face.points[:, 1].min()


def test_mirrored_frame_still_gives_the_image_left_eye_first(detector, astronaut_bgr):
    mirrored = np.ascontiguousarray(astronaut_bgr[:, ::-1])
    (face,) = detector.detect(mirrored)
    check_five_points(face.points)


def test_upscaled_rotated_photo(detector, astronaut_bgr):
    matrix = cv2.getRotationMatrix2D((0.0, 0.0), 12, 1.8)
    moved = cv2.warpAffine(astronaut_bgr, matrix, (1024, 1024), borderMode=cv2.BORDER_REFLECT)
    faces = detector.detect(moved)
    assert faces, "no face in the upscaled, rotated photo"
    check_five_points(faces[0].points)


def test_no_face(detector):
    blank = np.full((240, 320, 3), 128, np.uint8)
    assert detector.detect(blank) == []


def test_a_face_of_60_px_or_less_is_skipped(detector, astronaut_bgr, monkeypatch):
    small = cv2.resize(astronaut_bgr, (282, 282), interpolation=cv2.INTER_AREA)  # face box about 50 px
    assert detector.detect(small) == []
    monkeypatch.setattr("faces.finder.MIN_FACE_PX", 0)  # MediaPipe does see it: the size rule skipped it
    (face,) = detector.detect(small)
    assert 40 < face.size <= 60


def test_main_face_prefers_large_and_central():
    points = np.zeros((5, 2), np.float32)
    central = Face(points, (280, 200, 360, 280))
    edge_larger = Face(points, (0, 0, 100, 100))
    assert main_face_score(central, (480, 640)) > main_face_score(edge_larger, (480, 640))
