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
from flow.stabilize import CUT_MEAN_CONFIDENCE, decayed_weight, flow_confidence

DEFAULT_STEADINESS = 0.8
"""History weight at full confidence for frames 1/29.97 s apart. On carphone at 720p
(docs/compositing.md) the alpha's warping error against the per-frame matte's was
0.25x at 0.6, 0.19x at 0.7, 0.11x at 0.8 and 0.08x at 0.9, and the steady matte's mean
IoU with each frame's own matte 0.984, 0.981, 0.976 and 0.968: past 0.8 the matte
starts to lag a moving person for little more steadiness."""


class SteadyMatte:
    """Feed it (coarse matte, flow pair, time) in order; it returns the steady coarse matte."""

    def __init__(self, steadiness: float = DEFAULT_STEADINESS) -> None:
        if not 0.0 <= steadiness <= 1.0:
            raise ValueError(f"matte steadiness must be in [0, 1], got {steadiness}")
        self.steadiness = steadiness
        self._grid = np.empty((0, 0, 2), np.float32)
        self._history: np.ndarray | None = None
        self._time: float | None = None

    def reset(self) -> None:
        self._history = None
        self._time = None

    def __call__(self, coarse: np.ndarray, pair: FlowPair | None, time: float | None = None) -> np.ndarray:
        """``coarse`` is float32 0..1 on the flow's small grid (``pair.gray``'s shape)."""
        history, self._history = self._history, coarse
        steadiness, self._time = decayed_weight(self.steadiness, self._time, time), time
        if pair is None or history is None or history.shape != coarse.shape or steadiness == 0.0:
            return coarse
        if self._grid.shape[:2] != coarse.shape:
            self._grid = sampling_grid(*coarse.shape)
        confidence = flow_confidence(pair, self._grid)
        if float(confidence.mean()) < CUT_MEAN_CONFIDENCE:
            return coarse
        weight = confidence * np.float32(steadiness)
        warped = pull(history, self._grid + pair.backward)
        self._history = cv2.add(coarse, cv2.multiply(cv2.subtract(warped, coarse), weight))
        return self._history
