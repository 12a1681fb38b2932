"""Face alignment as the official pipeline does it, and the way back.

A face is mapped onto the 288x288 head crop by the least-squares similarity
transform that best takes its five points (pupils, nose tip, mouth corners) to the
official reference points. Like MATLAB's ``cp2tform``, which the official code
reimplements, the reflected solution is tried too and kept when it fits better.
The head model's output goes back through the inverse warp and a soft mask.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

CROP_SIZE = 288
REFERENCE_POINTS = np.array(
    [
        (111.7824, 137.6286),  # image-left pupil
        (179.7399, 137.2527),  # image-right pupil
        (145.9772, 176.2777),  # nose tip
        (118.0594, 216.0620),  # image-left mouth corner
        (174.3362, 215.7508),  # image-right mouth corner
    ],
    dtype=np.float64,
)

# The soft head mask is a superellipse |x/a|^p + |y/b|^p = 1 with a logistic edge.
# Parameters fitted (Nelder-Mead on mean absolute difference) to the official
# alpha.jpg: mean |diff| 0.014 on a 0..1 scale. Only the numbers come from there.
MASK_CENTER = (144.0, 144.0)
MASK_SEMI_AXES = (95.49, 133.79)
MASK_EXPONENT = 3.081
MASK_EDGE_PX = 5.376


def _solve_nonreflective(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares for dst = [[a,-b],[b,a]] src + t; returns (2x3, residual norm)."""
    n = len(src)
    system = np.zeros((2 * n, 4))
    system[:n] = np.column_stack([src[:, 0], -src[:, 1], np.ones(n), np.zeros(n)])
    system[n:] = np.column_stack([src[:, 1], src[:, 0], np.zeros(n), np.ones(n)])
    target = np.concatenate([dst[:, 0], dst[:, 1]])
    (a, b, tx, ty), *_ = np.linalg.lstsq(system, target, rcond=None)
    matrix = np.array([[a, -b, tx], [b, a, ty]])
    return matrix, float(np.linalg.norm(apply(matrix, src) - dst))


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to ``(N,2)`` points."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (reflection allowed if it fits better) taking ``src`` to ``dst``."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    direct, direct_err = _solve_nonreflective(src, dst)
    mirrored_dst = dst * (-1.0, 1.0)
    mirrored, mirrored_err = _solve_nonreflective(src, mirrored_dst)
    if mirrored_err < direct_err:
        return mirrored * np.array([[-1.0], [1.0]])  # un-mirror the x output row
    return direct


def align_face(frame_bgr: np.ndarray, points: np.ndarray, size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The aligned ``size`` x ``size`` head crop (white outside the frame) and its 2x3 matrix."""
    matrix = similarity_transform(points, REFERENCE_POINTS * (size / CROP_SIZE))
    crop = cv2.warpAffine(frame_bgr, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
    return crop, matrix


def crop_footprint(matrix: np.ndarray, size: int, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """Frame-pixel box (x0, y0, x1, y1) covered by the crop, clipped; None if off-frame."""
    corners = np.array([(0, 0), (size, 0), (0, size), (size, size)], np.float64)
    back = apply(cv2.invertAffineTransform(matrix), corners)
    h, w = frame_shape[:2]
    x0, y0 = np.floor(back.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(back.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def paste_back(background: np.ndarray, head: np.ndarray, matrix: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend the head crop into ``background`` through the inverse of ``matrix``.

    Only the crop's footprint is touched; every other pixel is returned unchanged.
    """
    size = head.shape[0]
    box = crop_footprint(matrix, size, background.shape)
    out = background.copy()
    if box is None:
        return out
    x0, y0, x1, y1 = box
    # The same sampling as a full-frame inverse warp, restricted to the box.
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ (x0, y0)
    dsize = (x1 - x0, y1 - y0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    head_back = cv2.warpAffine(head, shifted, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask_back = cv2.warpAffine(mask, shifted, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(mask_back * head_back + (1.0 - mask_back) * region + 0.5, 0, 255).astype(np.uint8)
    return out


@lru_cache(maxsize=4)
def head_mask(size: int = CROP_SIZE) -> np.ndarray:
    """The soft head-blend mask, float32 in [0, 1], generated (read-only array)."""
    scale = size / CROP_SIZE
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    (cx, cy), (ax, by) = MASK_CENTER, MASK_SEMI_AXES
    radius = ((np.abs(xx - cx * scale) / (ax * scale)) ** MASK_EXPONENT
              + (np.abs(yy - cy * scale) / (by * scale)) ** MASK_EXPONENT) ** (1.0 / MASK_EXPONENT)
    mask = (1.0 / (1.0 + np.exp(-(1.0 - radius) * min(ax, by) / MASK_EDGE_PX))).astype(np.float32)
    mask.setflags(write=False)
    return mask
