"""Coarse matte -> full-resolution alpha, with edges taken from the camera frame.

A fast guided filter (He and Sun, 2015): the linear model ``alpha ~ a * I + b`` is
fitted per window on the small grid (the flow's small gray image, so nothing new is
shrunk), its coefficients are averaged and resized, and only ``a * I + b`` runs at
full size on the frame's own gray levels. Where the coarse mask changes, the edge
follows the strongest intensity edge in the window, so hair and fingers get the
frame's soft, correct edge instead of a 256-pixel staircase; in flat areas ``a`` is
near 0 and the coarse value passes through.

A gray guide, not a colour one: one full-size plane instead of three, and the
consistency benchmark (``benchmarks/compositing.py``) scored within noise of it.
"""

from __future__ import annotations

import cv2
import numpy as np

RADIUS = 2
"""Window radius on the small grid (a 5x5 window: 20 px at 720p, whose small grid is 320x180)."""
EPSILON = 1e-3
"""Regularization in squared gray levels (0..1): edges weaker than ~0.03 (8 levels) do not steer.
Of 1e-3, 1e-2 and 5e-2 (radius 2 and 4), 1e-3 with radius 2 gave the best IoU on the
consistency benchmark; larger values soften the edge band a little (docs/compositing.md)."""


def box(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_coefficients(coarse: np.ndarray, small_gray: np.ndarray, radius: int = RADIUS,
                        epsilon: float = EPSILON) -> tuple[np.ndarray, np.ndarray]:
    """The linear model ``alpha = a * I + b`` of ``coarse`` (float32 0..1, any size) on the
    small grid of ``small_gray`` (uint8), averaged over windows: (a, b * 255), ready to be
    resized to full size and applied to the frame's uint8 gray levels (out in 0..255).
    The small-grid half of the filter, shared by the CPU and device paths (``matte.device``)."""
    sh, sw = small_gray.shape
    if coarse.shape != (sh, sw):
        coarse = cv2.resize(coarse, (sw, sh), interpolation=cv2.INTER_LINEAR)
    guide = small_gray.astype(np.float32) * np.float32(1.0 / 255.0)
    mean_i, mean_p = box(guide, radius), box(coarse, radius)
    cov = box(guide * coarse, radius) - mean_i * mean_p
    var = box(guide * guide, radius) - mean_i * mean_i
    a = cov / (var + np.float32(epsilon))
    b = mean_p - a * mean_i
    # Out in 0..255 from uint8 levels in: a keeps its scale, b is multiplied by 255.
    return box(a, radius), box(b, radius) * np.float32(255.0)


def guided_alpha(coarse: np.ndarray, small_gray: np.ndarray, full_gray: np.ndarray,
                 radius: int = RADIUS, epsilon: float = EPSILON) -> np.ndarray:
    """Full-size uint8 alpha from ``coarse`` (float32 0..1, any size) guided by the frame.

    ``small_gray`` and ``full_gray`` are the frame's gray levels (uint8) on the small
    grid and at full size.
    """
    a_small, b_small = guided_coefficients(coarse, small_gray, radius, epsilon)
    h, w = full_gray.shape
    # Each plane is resized on its own: resizing a merged pair and splitting it costs three times as much.
    a_full = cv2.resize(a_small, (w, h), interpolation=cv2.INTER_LINEAR)
    b_full = cv2.resize(b_small, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.multiply(full_gray, a_full, dtype=cv2.CV_32F)
    alpha = cv2.add(alpha, b_full)
    return cv2.convertScaleAbs(cv2.max(alpha, 0.0))  # rounds and saturates at 255; negatives were cut first
