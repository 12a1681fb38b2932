"""The cartoon teacher's geometry: larger eyes, a thinner nose and jaw, as one smooth warp.

A warp is a backward map ``source(p)``: the output pixel ``p`` shows the photo at
``source(p)``. Every term is a Gaussian-weighted displacement around a feature the
face mesh places, so the field is smooth (no seams, no folds: each term's strength
stays below one) and zero away from the face, and it is the same function for a
pixel grid (:meth:`FaceWarp.apply`, through ``cv2.remap``) and for points
(:meth:`FaceWarp.forward`, which moves the mesh to where the warp draws it).

* Each eye grows about its own centre, more across the eye than along it (cartoon
  eyes are tall), within a reach of about one eye width.
* The nose is pulled in sideways around the line from its bridge to its tip.
* Below the cheekbones the face is narrowed a few per cent towards its middle line,
  fading out past the jaw, so the outline moves by little and the person stays
  recognisable (the geometry benchmark holds it under 4% of the face width).

Only smoothed mesh points should reach here (:class:`dctnet.face_mesh.MeshSmoother`):
the warp follows its points exactly, so raw landmark noise would shake the eyes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faces.mesh import CHEEK_EDGES, CHIN, LEFT_EYE, NOSE_BRIDGE, NOSE_TIP, NOSE_WINGS, RIGHT_EYE

EYE_GROWTH_ALONG = 1.35
"""Magnification at an eye's centre along the line between its corners."""
EYE_GROWTH_ACROSS = 1.8
"""Magnification at an eye's centre across it (the eyelids' gap)."""
EYE_REACH_ALONG, EYE_REACH_ACROSS = 0.55, 0.55
"""The Gaussian's spread, in eye widths: far enough to carry the lids, short of the brows' top and the face outline."""
NOSE_THINNING = 0.22
"""Fractional pull towards the nose's middle line at its centre."""
JAW_THINNING = 0.045
"""Fractional pull of the lower face towards its middle line."""
FORWARD_ITERATIONS = 12


@dataclass(frozen=True)
class Bulge:
    """One Gaussian term: ``source = p - centre_offset * strength * g`` in the (along, across) frame at ``centre``.

    Positive strengths magnify (the output shows what lay nearer the centre), negative
    ones shrink (what lay farther out).
    """

    centre: np.ndarray
    along: np.ndarray
    """Unit vector of the first axis; the second is its perpendicular."""
    strength: tuple[float, float]
    reach: tuple[float, float]
    """Gaussian sigmas along each axis, in pixels."""

    def displacement(self, points: np.ndarray) -> np.ndarray:
        rel = points - self.centre
        across = np.array([-self.along[1], self.along[0]], np.float32)
        u, v = rel @ self.along, rel @ across
        g = np.exp(-0.5 * ((u / self.reach[0]) ** 2 + (v / self.reach[1]) ** 2))
        du, dv = self.strength[0] * u * g, self.strength[1] * v * g
        return du[..., None] * self.along + dv[..., None] * across


@dataclass(frozen=True)
class JawSqueeze:
    """Narrows the face below the cheekbones towards its middle line, fading past the chin."""

    centre: np.ndarray
    """Midpoint of the cheek edges."""
    along: np.ndarray
    half_width: float
    chin_depth: float
    """Distance from ``centre`` down to the chin."""

    def displacement(self, points: np.ndarray) -> np.ndarray:
        rel = points - self.centre
        down = np.array([-self.along[1], self.along[0]], np.float32)
        u, v = rel @ self.along, rel @ down
        v = v / max(self.chin_depth, 1.0)
        rows = np.clip((v - 0.1) / 0.5, 0.0, 1.0) * np.exp(-(np.maximum(v - 1.0, 0.0) / 0.3) ** 2)
        sides = np.exp(-((u / (1.3 * self.half_width)) ** 4))
        return (-JAW_THINNING * u * rows * sides)[..., None] * self.along


class FaceWarp:
    """The whole field for one face, from its (smoothed) mesh in the picture's pixels."""

    def __init__(self, mesh: np.ndarray) -> None:
        mesh = mesh.astype(np.float32)
        self.terms: list[Bulge | JawSqueeze] = [self._eye(mesh[list(eye)]) for eye in (RIGHT_EYE, LEFT_EYE)]
        self.terms.append(self._nose(mesh))
        left, right = mesh[CHEEK_EDGES[0]], mesh[CHEEK_EDGES[1]]
        centre = (left + right) / 2
        along = unit(right - left)
        down = np.array([-along[1], along[0]], np.float32)
        depth = float((mesh[CHIN] - centre) @ down)
        self.terms.append(JawSqueeze(centre, along, float(np.linalg.norm(right - left)) / 2, abs(depth)))

    @staticmethod
    def _eye(contour: np.ndarray) -> Bulge:
        corner_a, corner_b = contour[0], contour[8]
        width = float(np.linalg.norm(corner_b - corner_a))
        growth = (1 - 1 / EYE_GROWTH_ALONG, 1 - 1 / EYE_GROWTH_ACROSS)
        return Bulge(contour.mean(axis=0), unit(corner_b - corner_a), growth,
                     (EYE_REACH_ALONG * width, EYE_REACH_ACROSS * width))

    @staticmethod
    def _nose(mesh: np.ndarray) -> Bulge:
        tip, bridge = mesh[NOSE_TIP], mesh[NOSE_BRIDGE]
        wings = mesh[NOSE_WINGS[1]] - mesh[NOSE_WINGS[0]]
        width, length = float(np.linalg.norm(wings)), float(np.linalg.norm(tip - bridge))
        return Bulge((tip + bridge) / 2, unit(wings), (-NOSE_THINNING, 0.0), (0.7 * width, 0.6 * length))

    def displacement(self, points: np.ndarray) -> np.ndarray:
        return sum(term.displacement(points) for term in self.terms)

    def source(self, points: np.ndarray) -> np.ndarray:
        """Where each output point reads the photo."""
        return points - self.displacement(points)

    def forward(self, points: np.ndarray) -> np.ndarray:
        """Where each photo point is drawn: ``source``'s inverse, by fixed-point iteration
        (``p = q + displacement(p)`` contracts, as every term's strength is below one)."""
        moved = points.astype(np.float32).copy()
        for _ in range(FORWARD_ITERATIONS):
            moved = points + self.displacement(moved)
        return moved

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The picture warped (bilinear, edges replicated)."""
        h, w = image.shape[:2]
        grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)
        source = self.source(grid).astype(np.float32)
        return cv2.remap(image, source[..., 0], source[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-6)).astype(np.float32)
