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

# The soft head mask is a superellipse |x/a|^p + |y/b|^p = 1 whose edge is a logistic
# ramp of the (first-order) distance to that curve in pixels, so the edge is equally
# soft all round. Fitted by Nelder-Mead on the mean absolute difference to the
# official alpha.jpg (0..1 scale): 0.011. Only these four numbers come from there.
MASK_SEMI_AXES = (95.28, 132.90)
MASK_EXPONENT = 3.106
MASK_EDGE_PX = 5.987


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to ``(N,2)`` points."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def _invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix (numpy, so the solver stays OpenCV-free)."""
    linear = np.linalg.inv(matrix[:, :2])
    return np.column_stack([linear, -linear @ matrix[:, 2]])


def _fit_nonreflective(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The similarity ``[[a,-b],[b,a]] p + t`` taking ``src`` to ``dst``, as cp2tform finds it.

    cp2tform solves the *inverse* map (``dst`` onto ``src``) by least squares and
    inverts it, so the residual it minimises is measured in source (frame) pixels.
    For a face that does not match the template this gives a different scale than
    a forward fit (6% on the astronaut photo), so we do the same.
    """
    n = len(src)
    system = np.zeros((2 * n, 4))
    system[:n] = np.column_stack([dst[:, 0], -dst[:, 1], np.ones(n), np.zeros(n)])
    system[n:] = np.column_stack([dst[:, 1], dst[:, 0], np.zeros(n), np.ones(n)])
    target = np.concatenate([src[:, 0], src[:, 1]])
    (a, b, tx, ty), *_ = np.linalg.lstsq(system, target, rcond=None)
    return _invert(np.array([[a, -b, tx], [b, a, ty]]))


def similarity_transform(src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """The 2x3 similarity taking ``src_pts`` to ``dst_pts`` (cp2tform 'similarity').

    Like cp2tform, the reflected solution (fit to ``dst`` mirrored in x, then
    mirrored back) is kept when its residual in ``dst`` space is smaller; for a
    face in a normal photo it never is, but it keeps us equal to the official code.
    """
    src, dst = np.asarray(src_pts, np.float64), np.asarray(dst_pts, np.float64)
    mirror = np.array([[-1.0], [1.0]])
    direct = _fit_nonreflective(src, dst)
    reflected = _fit_nonreflective(src, dst * mirror.T) * mirror
    residual = [np.linalg.norm(apply(m, src) - dst) for m in (direct, reflected)]
    return direct if residual[0] <= residual[1] else reflected


def align_face(frame_bgr: np.ndarray, five_points: np.ndarray, size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The aligned ``size`` x ``size`` head crop (white outside the frame) and its 2x3 matrix.

    White, not black, is what the official code pads with and what the head model saw.
    """
    matrix = similarity_transform(five_points, REFERENCE_POINTS * (size / CROP_SIZE))
    crop = cv2.warpAffine(frame_bgr, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
    return crop, matrix


def crop_footprint(matrix: np.ndarray, size: int, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """Frame-pixel box (x0, y0, x1, y1), clipped, outside which the inverse warp is all border.

    Bilinear sampling with a zero border reaches crop coordinates in (-1, size), so
    that square is mapped back, plus one pixel for OpenCV's fixed-point rounding.
    None if the crop lies wholly off the frame.
    """
    corners = np.array([(-1, -1), (size, -1), (-1, size), (size, size)], np.float64)
    back = apply(_invert(matrix), corners)
    h, w = frame_shape[:2]
    x0, y0 = np.floor(back.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(back.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def paste_back(background_bgr: np.ndarray, head_bgr: np.ndarray, matrix: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend ``head_bgr`` into the frame through the inverse of ``matrix``: ``m*head + (1-m)*bg``.

    Only the crop's footprint is warped and blended (a face covers a small part of
    a 720p frame); every other pixel is returned unchanged, bit for bit.
    """
    out = background_bgr.copy()
    box = crop_footprint(matrix, head_bgr.shape[0], background_bgr.shape)
    if box is None:
        return out
    x0, y0, x1, y1 = box
    to_box = cv2.invertAffineTransform(matrix)  # crop -> frame, as the official code warps
    to_box[:, 2] -= (x0, y0)  # ... and frame -> the box's own pixel grid
    dsize = (x1 - x0, y1 - y0)
    head = cv2.warpAffine(head_bgr, to_box, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = cv2.warpAffine(mask, to_box, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = alpha[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(alpha * head + (1.0 - alpha) * region + 0.5, 0, 255).astype(np.uint8)
    return out


@lru_cache(maxsize=4)
def head_mask(size: int = CROP_SIZE) -> np.ndarray:
    """The soft head-blend mask, float32 in [0, 1], read-only (it is cached and shared).

    Generated rather than read from ``alpha.jpg`` so the app needs no file from the
    model repositories beyond the weights. The distance to the superellipse is
    approximated to first order, ``(1 - r) / |grad r|``, which is exact on the curve
    and good enough across the few-pixel ramp that matters.
    """
    scale = size / CROP_SIZE
    centre = size / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    a, b = MASK_SEMI_AXES[0] * scale, MASK_SEMI_AXES[1] * scale
    p = MASK_EXPONENT
    u, v = np.abs(xx - centre) / a, np.abs(yy - centre) / b
    r = np.maximum((u**p + v**p) ** (1.0 / p), 1e-12)
    grad = np.hypot(u ** (p - 1) / a, v ** (p - 1) / b) * r ** (1.0 - p)
    distance = (1.0 - r) / np.maximum(grad, 1e-12)
    mask = (1.0 / (1.0 + np.exp(-distance / (MASK_EDGE_PX * scale)))).astype(np.float32)
    mask.setflags(write=False)
    return mask
