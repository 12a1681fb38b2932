"""Keeping the main face across frames, with steady points.

Two problems of per-frame detection, both reported by DCT-Net's own users (face
flicker, eye jitter): the "main" face can switch when a passer-by briefly looks
bigger or the subject is missed for a frame, and landmark noise makes the aligned
crop shake. So the tracker

* holds on to its face (matched by overlap) and switches only when another face
  has scored clearly higher for ``switch_frames`` frames in a row;
* bridges short misses by holding the last points for ``hold_frames`` frames;
* smooths the five points with a One-Euro filter (Casiez et al. 2012): heavy
  smoothing when still, little lag when moving; a jump larger than a fraction of
  the face size resets it instead of gliding across the frame.

Time comes from the caller (frame timestamps), never the wall clock, so a file
processed slower than real time is smoothed exactly as it would be live.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .finder import Face, FaceFinder, main_face_score

SWITCH_MARGIN = 1.5
"""A rival must score this many times the tracked face's score to count towards a switch."""
RESET_JUMP = 0.35
"""A move of this fraction of the face size between frames resets the smoothing."""


@dataclass
class OneEuro:
    """One-Euro filter over an array of coordinates."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0
    value: np.ndarray | None = None
    speed: np.ndarray | None = None
    time: float | None = None

    @staticmethod
    def alpha(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def reset(self) -> None:
        self.value = self.speed = self.time = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        if self.value is None or self.time is None or t <= self.time:
            self.value, self.speed, self.time = x.astype(np.float64), np.zeros(x.shape), t
            return x.astype(np.float32)
        dt = t - self.time
        speed = (x - self.value) / dt
        a_d = self.alpha(self.d_cutoff, dt)
        self.speed = a_d * speed + (1 - a_d) * self.speed
        a = self.alpha(self.min_cutoff + self.beta * np.abs(self.speed), dt)
        self.value = a * x + (1 - a) * self.value
        self.time = t
        return self.value.astype(np.float32)


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceSource(Protocol):
    """The face stage of a frame chain (:class:`app.pipeline.FrameProcessor`): the faces of
    each frame of one clip, fed in order, main face first, in the frame's pixels.

    :class:`FaceTracker` is the real one; ``bench`` adds a fixed face where a synthetic
    clip has none. Called on the chain's (model) thread only; ``t`` is the frame's time
    in seconds, so smoothing follows the clip, not the wall clock.
    """

    def update(self, frame_bgr: np.ndarray, t: float) -> list[Face]:
        """Faces in this frame, the main face first (an empty list: no face)."""
        ...

    def reset(self) -> None:
        """A new clip or session: forget the faces seen so far."""
        ...


class FaceTracker:
    """Main face first, smoothed; other faces follow unsmoothed (a :class:`FaceSource`)."""

    def __init__(
        self,
        detector: FaceFinder,
        switch_frames: int = 12,
        hold_frames: int = 6,
        min_cutoff: float = 0.8,
        beta: float = 0.02,
    ) -> None:
        self.detector = detector
        self.switch_frames = switch_frames
        self.hold_frames = hold_frames
        self.filter = OneEuro(min_cutoff=min_cutoff, beta=beta)
        self.tracked: Face | None = None
        self.missed = 0
        self.rival_frames = 0

    def reset(self) -> None:
        self.tracked = None
        self.missed = self.rival_frames = 0
        self.filter.reset()

    def update(self, frame_bgr: np.ndarray, t: float) -> list[Face]:
        """Faces in this frame, the tracked main face first (an empty list: no face)."""
        faces = self.detector.detect(frame_bgr)
        main = self._choose(faces, frame_bgr.shape)
        if main is None:
            self.missed += 1
            if self.tracked is None or self.missed > self.hold_frames:
                self.reset()
                return []
            return [self.tracked]
        self.missed = 0
        smoothed = self._smooth(main, t)
        self.tracked = smoothed
        return [smoothed] + [f for f in faces if f is not main]

    def _choose(self, faces: list[Face], shape: tuple[int, ...]) -> Face | None:
        if not faces:
            return None
        if self.tracked is None:
            return faces[0]  # detector order: best main-face score first
        same = max(faces, key=lambda f: overlap(f.box, self.tracked.box))
        if overlap(same.box, self.tracked.box) < 0.2:
            self.rival_frames += 1
            return faces[0] if self.rival_frames >= self.switch_frames else None
        best = faces[0]
        if best is not same and main_face_score(best, shape) > SWITCH_MARGIN * main_face_score(same, shape):
            self.rival_frames += 1
            if self.rival_frames >= self.switch_frames:
                self.rival_frames = 0
                self.filter.reset()
                return best
        else:
            self.rival_frames = 0
        return same

    def _smooth(self, face: Face, t: float) -> Face:
        if self.tracked is not None:
            jump = np.abs(face.points - self.tracked.points).max()
            if jump > RESET_JUMP * max(face.size, 1.0):
                self.filter.reset()
        points = self.filter(face.points, t)
        return Face(points, face.box)
