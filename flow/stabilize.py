"""Temporal stabilization: carry the previous output along the input's motion.

Per-frame stylization flickers: the same skin renders a little differently each
frame. Where the input's motion is known and trustworthy, the previous *output*,
warped to the current frame, is the best prediction of what the current output
should be; blending it in suppresses flicker without smearing motion:

    out_t = S_t * (1 - a*c) + warp(out_{t-1}) * (a*c)

``S_t`` is the per-frame output, ``a`` the user's strength (0 = off, bit-exact) and
``c`` a per-pixel confidence from forward-backward flow consistency and from how
well the warped previous *input* predicts the current input. Occlusions, fast
motion and scene cuts get low confidence, so new content shows up at once. The
history is the stabilizer's own output, which makes the filter recursive.

Everything but the warp of the previous output and the blend runs on the small
grid of :mod:`flow.estimate`; those two run on uint8 at full size.
"""

from __future__ import annotations

import cv2
import numpy as np

from .estimate import DEFAULT_MAX_SIDE, FlowPair, SequenceFlow, full_size_map, pull, sampling_grid

DEFAULT_STRENGTH = 0.8
CONSISTENCY_PX = 0.75
"""Forward-backward disagreement (small-image pixels) at which confidence falls to 1/e."""
PHOTOMETRIC_LEVELS = 16.0
"""Gray-level error of the warped previous input (small image) at which confidence falls to 1/e."""
CUT_MEAN_CONFIDENCE = 0.25
"""Below this mean confidence the frame is treated as a scene cut: history resets."""


class Stabilizer:
    """Feed it (input frame, per-frame output) pairs in order; it returns stable outputs.

    The returned array is also kept as the history for the next frame: callers must
    not draw on it in place.
    """

    def __init__(self, strength: float = DEFAULT_STRENGTH, max_side: int = DEFAULT_MAX_SIDE) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"stability strength must be in [0, 1], got {strength}")
        self.strength = strength
        self._motion = SequenceFlow(max_side)
        self._grid = np.empty((0, 0, 2), np.float32)
        self.cuts = 0
        """Scene cuts detected so far (history dropped because motion could not be trusted)."""
        self._history: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the history (new clip, seek)."""
        self._motion.reset()
        self._history = None

    def __call__(self, input_bgr: np.ndarray, styled_bgr: np.ndarray) -> np.ndarray:
        if self.strength == 0.0:
            # Off means off: no flow, and no stale history if it is turned on again later.
            self.reset()
            return styled_bgr
        pair = self._motion(input_bgr)
        history, self._history = self._history, styled_bgr
        if pair is None or history is None or history.shape != styled_bgr.shape:
            return styled_bgr
        confidence = self.confidence(pair)
        if float(confidence.mean()) < CUT_MEAN_CONFIDENCE:
            self.cuts += 1
            return styled_bgr
        self._history = self._blend(styled_bgr, history, pair.backward, confidence)
        return self._history

    def _small_grid(self, height: int, width: int) -> np.ndarray:
        """Kept between frames: the size rarely changes, and rebuilding it costs a pass."""
        if self._grid.shape[:2] != (height, width):
            self._grid = sampling_grid(height, width)
        return self._grid

    def confidence(self, pair: FlowPair) -> np.ndarray:
        """Per-pixel trust in the backward flow, in [0, 1], on the small grid."""
        coords = self._small_grid(*pair.gray.shape) + pair.backward
        forward_there = pull(pair.forward, coords)
        prev_there = pull(pair.prev_gray, coords)
        round_trip = pair.backward + forward_there
        photometric = cv2.absdiff(prev_there, pair.gray).astype(np.float32)
        score = (round_trip[..., 0] ** 2 + round_trip[..., 1] ** 2) * np.float32(1.0 / CONSISTENCY_PX**2)
        score += (photometric * np.float32(1.0 / PHOTOMETRIC_LEVELS)) ** 2
        # Lightly smoothed: isolated trusted pixels inside distrusted areas are flow luck.
        return cv2.GaussianBlur(cv2.exp(-score), (5, 5), 0)

    def _blend(self, styled: np.ndarray, history: np.ndarray, backward: np.ndarray,
               confidence: np.ndarray) -> np.ndarray:
        """``styled*(1-w) + warp(history)*w`` with ``w = strength*confidence``, in uint8.

        Weights quantized to 1/255 and two rounded products keep it within two levels
        of a float blend, and faster than ``cv2.blendLinear``, which needs two
        full-size float weight maps.
        """
        h, w = styled.shape[:2]
        coords = full_size_map(backward, self._small_grid(*backward.shape[:2]), h, w)
        warped = pull(history, coords)
        weight = np.rint(confidence * np.float32(255.0 * self.strength)).astype(np.uint8)
        weight = cv2.resize(cv2.merge([weight] * 3), (w, h), interpolation=cv2.INTER_LINEAR)
        kept = cv2.multiply(warped, weight, scale=1.0 / 255.0)
        fresh = cv2.multiply(styled, cv2.bitwise_not(weight), scale=1.0 / 255.0)
        return cv2.add(kept, fresh)
