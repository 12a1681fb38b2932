"""The main-face tracker: hysteresis against passers-by and misses, steady points."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faces.finder import FaceDetector
from faces.tracking import FaceTracker, OneEuro


def two_faces(face: np.ndarray, left_size: int, right_size: int, show_right: bool = True) -> np.ndarray:
    canvas = np.full((360, 640, 3), 235, np.uint8)
    canvas[40:40 + left_size, 20:20 + left_size] = cv2.resize(face, (left_size, left_size))
    if show_right:
        canvas[60:60 + right_size, 380:380 + right_size] = cv2.resize(face, (right_size, right_size))
    return canvas


@pytest.fixture(scope="module")
def face_photo(astronaut_bgr):
    return astronaut_bgr[30:290, 100:360]


def centre_x(faces) -> float:
    return float(faces[0].points[:, 0].mean())


def test_main_face_holds_against_a_brief_rival_and_a_brief_miss(face_photo):
    blank = np.full((360, 640, 3), 235, np.uint8)
    with FaceDetector(static_image_mode=False, max_faces=2) as detector:
        tracker = FaceTracker(detector, switch_frames=8, hold_frames=4)
        clock = iter(np.arange(0, 10, 1 / 30))

        def run(frame: np.ndarray, frames: int) -> list:
            return [tracker.update(frame, next(clock)) for _ in range(frames)]

        assert centre_x(run(two_faces(face_photo, 150, 220), 5)[-1]) > 360, "the larger face is the main face"
        for faces in run(two_faces(face_photo, 300, 220), 4):
            assert centre_x(faces) > 360, "a passer-by growing briefly must not steal the main face"
        for faces in run(two_faces(face_photo, 150, 220, show_right=False), 3):
            assert faces and centre_x(faces) > 360, "a brief miss holds the main face"
        assert centre_x(run(two_faces(face_photo, 150, 220), 3)[-1]) > 360
        assert centre_x(run(two_faces(face_photo, 300, 220), 12)[-1]) < 360, "a lasting larger face wins"
        assert run(blank, 6)[-1] == [], "no face once the hold is over"


def test_no_face_is_reported_after_the_hold(face_photo):
    with FaceDetector(static_image_mode=False) as detector:
        tracker = FaceTracker(detector, hold_frames=2)
        assert tracker.update(two_faces(face_photo, 200, 200), 0.0)
        blank = np.full((360, 640, 3), 235, np.uint8)
        results = [tracker.update(blank, 0.1 * k) for k in range(1, 5)]
        assert results[0] and results[1] and not results[2] and not results[3]


def test_still_face_points_jitter_under_half_a_pixel(astronaut_bgr):
    """A still face in a noisy 'camera': raw landmarks jitter (measured 0.14 px RMS); the
    smoothed ones at most half as much (measured 0.05 px) and under half a pixel."""
    rng = np.random.default_rng(0)
    raw, smooth = [], []
    with FaceDetector(static_image_mode=False) as detector:
        tracker = FaceTracker(detector)
        for k in range(40):
            frame = np.clip(astronaut_bgr.astype(np.float32) + rng.normal(0, 4, astronaut_bgr.shape), 0, 255).astype(np.uint8)
            raw.append(detector.detect(frame)[0].points)
            smooth.append(tracker.update(frame, k / 30)[0].points)
    def rms_jitter(series):
        pts = np.array(series[10:])
        return float(np.sqrt(((pts - pts.mean(axis=0)) ** 2).sum(axis=2).mean()))
    raw_px, smooth_px = rms_jitter(raw), rms_jitter(smooth)
    assert raw_px > 0.05, f"the noise must make the raw points jitter to test anything ({raw_px:.3f} px)"
    assert smooth_px < 0.5 * raw_px, f"smoothing must at least halve the jitter: {smooth_px:.3f} px, raw {raw_px:.3f} px"
    assert smooth_px < 0.5, f"smoothed jitter {smooth_px:.2f} px"


def test_one_euro_follows_motion_and_resets():
    f = OneEuro(min_cutoff=1.0, beta=0.05)
    values = [f(np.array([float(x)]), x / 30) for x in range(60)]
    assert abs(values[-1][0] - 59) < 5, "follows a steady motion with little lag"
    f.reset()
    assert f(np.array([500.0]), 10.0)[0] == 500.0
