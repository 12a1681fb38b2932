"""The whole face mesh (478 points with irises), smoothed, and the measures read from it.

The face stage (:mod:`faces.finder`) keeps only the five points DCT-Net aligns on; a
teacher that redraws the face needs its whole outline, eyelids, irises and lips.
:class:`MeshDetector` is the same MediaPipe FaceMesh (``refine_landmarks``, so the
ten iris points 468-477 are there) returning every point. :class:`MeshSmoother` runs
the tracker's One-Euro filter over all 478 points, keyed by the caller's time, so
a warp driven by the mesh never follows one frame's landmark noise.

The measures (:func:`eye_opening`, :func:`face_width`) are what the geometry
benchmark and the tests judge a cartoon by: the eyelids' gap relative to the face's
width, so a picture scaled as a whole keeps its ratio.
"""

from __future__ import annotations

import cv2
import numpy as np

from .finder import MIN_FACE_PX, FaceDetector
from .tracking import RESET_JUMP, OneEuro

MESH_POINTS = 478
# Eye contours in MediaPipe's order: a corner, the lower lid, the other corner, the upper lid.
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_IRIS = (468, 469, 470, 471, 472)
"""Centre first, then four points on the iris's edge; MediaPipe's iris of ``RIGHT_EYE``."""
LEFT_IRIS = (473, 474, 475, 476, 477)
# Upper and lower eyelid points facing each other across each eye.
EYELID_PAIRS = ((160, 144), (159, 145), (158, 153), (385, 380), (386, 374), (387, 373))
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
CHEEK_EDGES = (234, 454)
"""The face oval's widest pair, at the eyes' height: the face width every measure is relative to."""
OUTER_LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
NOSE_TIP, NOSE_BRIDGE = 1, 168
NOSE_WINGS = (129, 358)
CHEEKS = (50, 280)
CHIN, FOREHEAD = 152, 10


def face_width(mesh: np.ndarray) -> float:
    return float(np.linalg.norm(mesh[CHEEK_EDGES[0]] - mesh[CHEEK_EDGES[1]]))


def eye_opening(mesh: np.ndarray) -> float:
    """Mean gap between the eyelids over both eyes, as a fraction of the face width."""
    gaps = [np.linalg.norm(mesh[upper] - mesh[lower]) for upper, lower in EYELID_PAIRS]
    return float(np.mean(gaps)) / max(face_width(mesh), 1e-6)


def iris_radius(mesh: np.ndarray, iris: tuple[int, ...]) -> float:
    return float(np.mean(np.linalg.norm(mesh[list(iris[1:])] - mesh[iris[0]], axis=1)))


class MeshDetector(FaceDetector):
    """MediaPipe FaceMesh returning whole meshes: ``(478, 2)`` float32 pixel coordinates."""

    def meshes(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        """Every face larger than the official minimum, largest first."""
        h, w = image_bgr.shape[:2]
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        result = self._mesh.process(rgb)
        found = [np.array([(p.x * w, p.y * h) for p in lm.landmark], np.float32)
                 for lm in (result.multi_face_landmarks or [])]
        found = [m for m in found if np.ptp(m, axis=0).min() > MIN_FACE_PX]
        return sorted(found, key=lambda m: -float(np.prod(np.ptp(m, axis=0))))


class MeshSmoother:
    """Smooths the face's shape, not its place: steady eyes that never lag the head.

    A filter over raw point positions lags a moving head, and a drawing that lags the
    picture under it is what a video's warping error measures (on carphone, One-Euro
    over the positions scored 1.4x the unsmoothed mesh). So each mesh is split into a
    pose, a similarity fitted over all 478 points (its noise averages out over them),
    and a shape in that pose's frame. The pose is used as measured; the shape goes
    through the tracker's One-Euro filter (:mod:`faces.tracking`), keyed by ``t``, the
    frame's time in seconds: a still face's eye opening holds still under landmark
    noise (within 1% frame to frame, tests/test_cartoon_teacher.py), while a blink or
    a spoken syllable moves its points fast enough for ``beta`` to open the filter. A
    pose that jumps by more than the tracker's reset fraction starts the filter again.
    """

    def __init__(self, min_cutoff: float = 0.4, beta: float = 0.01) -> None:
        self.filter = OneEuro(min_cutoff=min_cutoff, beta=beta)
        self.shape: np.ndarray | None = None
        self.centre: np.ndarray | None = None

    def reset(self) -> None:
        self.filter.reset()
        self.shape = self.centre = None

    def __call__(self, mesh: np.ndarray, t: float) -> np.ndarray:
        mesh = mesh.astype(np.float64)
        centre = mesh.mean(axis=0)
        relative = mesh - centre
        scale = float(np.sqrt((relative**2).sum(axis=1).mean()))
        if self.centre is not None and np.abs(centre - self.centre).max() > RESET_JUMP * scale:
            self.reset()
        self.centre = centre
        unit_shape = relative / max(scale, 1e-6)
        angle = 0.0 if self.shape is None else alignment_angle(unit_shape, self.shape / SHAPE_UNIT)
        self.shape = self.filter(rotated(unit_shape, angle) * SHAPE_UNIT, t).astype(np.float64)
        return (centre + rotated(self.shape / SHAPE_UNIT, -angle) * scale).astype(np.float32)


SHAPE_UNIT = 100.0
"""A shape's RMS radius in the filter: its cutoffs read as for a face of that many pixels."""


def alignment_angle(shape: np.ndarray, reference: np.ndarray) -> float:
    """The rotation (radians) that best lays ``shape`` onto ``reference`` (2-D Kabsch; both centred)."""
    cross = float((shape[:, 0] * reference[:, 1] - shape[:, 1] * reference[:, 0]).sum())
    dot = float((shape * reference).sum())
    return float(np.arctan2(cross, dot))


def rotated(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]])
