"""Optical flow between consecutive frames, cheap enough to run beside the model.

OpenCV's DIS flow on small grayscale copies: motion between video frames is smooth
at the scale that matters for warping a cartoon (flat regions, few fine details), so
a long side of about 384 px gives the flow we need in a couple of milliseconds.
Flows are returned at that small size, in small-image pixels; callers scale them.
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_MAX_SIDE = 384


def small_gray(frame_bgr: np.ndarray, max_side: int) -> np.ndarray:
    """Grayscale copy whose long side is at most ``max_side``."""
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        gray = cv2.resize(gray, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    return gray


def sampling_grid(height: int, width: int) -> np.ndarray:
    """Pixel coordinates ``[H,W,2]`` (x, y), float32, to add flows to for ``remap``."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.dstack([xs, ys])


class FlowEstimator:
    """DIS optical flow with one reusable OpenCV instance (it keeps scratch buffers)."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST) -> None:
        self._dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow ``f`` with ``source(x) ~ target(x + f(x))``, float32 ``[H,W,2]``."""
        return self._dis.calc(source, target, None)


def warp(image: np.ndarray, flow: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Pull ``image`` along ``flow``: ``out(x) = image(x + flow(x))`` (bilinear, edges replicated)."""
    if grid is None:
        grid = sampling_grid(*flow.shape[:2])
    coords = grid + flow
    return cv2.remap(image, coords[..., 0], coords[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency_error(backward: np.ndarray, forward: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """|b(x) + f(x + b(x))|: zero where the two flows agree (pixel visible in both frames)."""
    forward_at_target = warp(forward, backward, grid)
    return np.linalg.norm(backward + forward_at_target, axis=2)
