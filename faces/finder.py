"""Faces from MediaPipe FaceMesh, reduced to the five points DCT-Net aligns on.

FaceMesh with ``refine_landmarks`` gives iris centres, so the five official points
(pupils, nose tip, mouth corners) are read directly: indices 468/473 (irises), 1
(nose tip), 61/291 (mouth corners). Faces are returned main face first: the main
face is the one a viewer would call the subject, large and near the centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from common.errors import LiveToonError

FIVE_POINT_IDS = (468, 473, 1, 61, 291)
MIN_FACE_PX = 60
"""The official pipeline skips faces whose box is this small or smaller."""
CENTRALITY_FALLOFF = 2.0


class FaceModelError(LiveToonError):
    """MediaPipe's face models could not be loaded."""


@dataclass(frozen=True)
class Face:
    """One face: the five alignment points and the box of all its mesh landmarks.

    There is no confidence score: MediaPipe's FaceMesh solution reports none per
    face. Frozen, so a tracker can derive smoothed copies without aliasing.
    """

    points: np.ndarray  # (5, 2) float32 pixel coordinates, image-left eye first
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 of all landmarks

    @property
    def size(self) -> float:
        """The box's short side: what the official "skip faces <= 60 px" rule measures."""
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])

    def scaled(self, factor: float) -> Face:
        """This face in a frame resized by ``factor`` (detection may run on a smaller frame)."""
        if factor == 1.0:
            return self
        return Face((self.points * factor).astype(np.float32), tuple(v * factor for v in self.box))


def main_face_score(face: Face, frame_shape: tuple[int, ...]) -> float:
    """Area weighted by closeness to the centre: exp(-2 d^2), d in half-diagonals.

    A face twice as large wins unless it sits near the edge; this matches what a
    viewer would call the subject better than "largest" or "left-most" alone.
    """
    h, w = frame_shape[:2]
    x0, y0, x1, y1 = face.box
    dx, dy = ((x0 + x1) / 2 - w / 2) / (w / 2), ((y0 + y1) / 2 - h / 2) / (h / 2)
    distance_sq = (dx * dx + dy * dy) / 2.0
    return (x1 - x0) * (y1 - y0) * float(np.exp(-CENTRALITY_FALLOFF * distance_sq))


def face_from_landmarks(landmarks, width: int, height: int) -> Face:
    """A :class:`Face` from one FaceMesh result (normalised coordinates) in a ``width`` x ``height`` frame.

    The order is fixed by x in the image, not by MediaPipe's "left"/"right", so a
    mirrored webcam frame still gives the image-left eye first, as the official
    pipeline (and its reference points) expect.
    """
    coords = np.array([(p.x * width, p.y * height) for p in landmarks.landmark], np.float32)
    points = coords[list(FIVE_POINT_IDS)]
    if points[0, 0] > points[1, 0]:  # keep the image-left eye (and mouth corner) first
        points = points[[1, 0, 2, 4, 3]]
    x0, y0 = coords.min(axis=0)
    x1, y1 = coords.max(axis=0)
    return Face(points, (float(x0), float(y0), float(x1), float(y1)))


class FaceFinder(Protocol):
    """Anything that finds faces in a frame: MediaPipe's :class:`FaceDetector`, or
    faces found earlier and replayed where MediaPipe cannot run (the GPU check)."""

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        """All faces in the frame, main face first."""
        ...


class FaceDetector:
    """MediaPipe FaceMesh; ``static_image_mode`` for unrelated stills, off for video.

    MediaPipe writes start-up chatter to fd 2; a program filters it for the whole process
    (:func:`app.process_setup.quiet_native_chatter`), as fd 2 is the process's, not ours.
    """

    def __init__(self, static_image_mode: bool = False, max_faces: int = 4, min_confidence: float = 0.5) -> None:
        try:
            import mediapipe as mp

            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=static_image_mode,
                max_num_faces=max_faces,
                refine_landmarks=True,
                min_detection_confidence=min_confidence,
                min_tracking_confidence=min_confidence,
            )
        except (ImportError, RuntimeError, FileNotFoundError) as exc:
            raise FaceModelError(f"cannot load MediaPipe's face models ({exc}); run `livetoon doctor`") from exc

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        """All faces larger than the official minimum, main face first."""
        h, w = frame_bgr.shape[:2]
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        result = self._mesh.process(rgb)
        faces = [face_from_landmarks(lm, w, h) for lm in (result.multi_face_landmarks or [])]
        faces = [f for f in faces if f.size > MIN_FACE_PX]
        return sorted(faces, key=lambda f: main_face_score(f, frame_bgr.shape), reverse=True)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
