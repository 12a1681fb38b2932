"""Keep a matte steady over time with the flow the frame chain already computed.

The same recursive, confidence-weighted blend as :mod:`flow.stabilize`, on the
coarse matte (the flow's small grid, float): the previous steady matte, pulled
along the backward flow, is blended with the new one where the flow is trusted.
A segmentation network's mask trembles from frame to frame at the same edge (a few
levels of sensor noise move its 256-pixel boundary); carried along the true motion,
the history cancels that tremble without dragging a moving person's edge behind.
Untrusted pixels (occlusion, new content) and scene cuts take the new mask at once.
"""

from __future__ import annotations

import cv2
import numpy as np

from flow.estimate import FlowPair, pull, sampling_grid
from flow.stabilize import RecursiveBlend

DEFAULT_STEADINESS = 0.8
"""History weight at full confidence for frames 1/29.97 s apart. On carphone at 720p
(docs/compositing.md) the alpha's warping error against the per-frame matte's was
0.25x at 0.6, 0.19x at 0.7, 0.11x at 0.8 and 0.08x at 0.9, and the steady matte's mean
IoU with each frame's own matte 0.984, 0.981, 0.976 and 0.968: past 0.8 the matte
starts to lag a moving person for little more steadiness."""


def carried_matte(coarse: np.ndarray, history: np.ndarray, pair: FlowPair, weight: np.ndarray) -> np.ndarray:
    """``coarse + (warp(history) - coarse) * w`` in float, on the small grid."""
    warped = pull(history, sampling_grid(*coarse.shape) + pair.backward)
    return cv2.add(coarse, cv2.multiply(cv2.subtract(warped, coarse), weight))


class SteadyMatte:
    """Feed it (coarse matte, flow pair, time) in order; it returns the steady coarse matte."""

    def __init__(self, steadiness: float = DEFAULT_STEADINESS) -> None:
        if not 0.0 <= steadiness <= 1.0:
            raise ValueError(f"matte steadiness must be in [0, 1], got {steadiness}")
        self._recursion = RecursiveBlend(steadiness, carried_matte)

    @property
    def steadiness(self) -> float:
        return self._recursion.weight

    def reset(self) -> None:
        self._recursion.reset()

    def __call__(self, coarse: np.ndarray, pair: FlowPair | None, time: float | None = None) -> np.ndarray:
        """``coarse`` is float32 0..1 on the flow's small grid (``pair.gray``'s shape)."""
        return self._recursion(pair, coarse, time)[0]
