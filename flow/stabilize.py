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
"""

from __future__ import annotations

import cv2
import numpy as np

from .estimate import DEFAULT_MAX_SIDE, FlowEstimator, consistency_error, sampling_grid, small_gray, warp

DEFAULT_STRENGTH = 0.8
CONSISTENCY_PX = 0.75
"""Forward-backward disagreement (small-image pixels) at which confidence falls to 1/e."""
PHOTOMETRIC_LEVELS = 16.0
"""Gray-level error of the warped previous input at which confidence falls to 1/e."""
CUT_MEAN_CONFIDENCE = 0.25
"""Below this mean confidence the frame is treated as a scene cut: history resets."""


class Stabilizer:
    """Feed it (input frame, per-frame output) pairs in order; it returns stable outputs."""

    def __init__(self, strength: float = DEFAULT_STRENGTH, max_side: int = DEFAULT_MAX_SIDE) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"stability strength must be in [0, 1], got {strength}")
        self.strength = strength
        self.max_side = max_side
        self._flow = FlowEstimator()
        self._grids: dict[tuple[int, int], np.ndarray] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the history (new clip, seek, size change)."""
        self._prev_gray: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None
        self.last_confidence: float | None = None
        self.cuts = 0

    def _grid(self, height: int, width: int) -> np.ndarray:
        """Pixel grids are reused: building one per 720p frame would cost more than the warp."""
        grid = self._grids.get((height, width))
        if grid is None:
            if len(self._grids) >= 4:
                self._grids.clear()
            grid = self._grids[(height, width)] = sampling_grid(height, width)
        return grid

    def confidence(self, gray: np.ndarray, prev_gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(backward flow, confidence in [0,1]) at the small size."""
        grid = self._grid(*gray.shape)
        backward = self._flow(gray, prev_gray)
        forward = self._flow(prev_gray, gray)
        fb_error = consistency_error(backward, forward, grid)
        photo_error = cv2.absdiff(warp(prev_gray, backward, grid), gray).astype(np.float32)
        score = (fb_error / CONSISTENCY_PX) ** 2 + (photo_error / PHOTOMETRIC_LEVELS) ** 2
        confidence = np.exp(-score)
        return backward, cv2.GaussianBlur(confidence, (5, 5), 0)

    def __call__(self, input_bgr: np.ndarray, styled_bgr: np.ndarray) -> np.ndarray:
        if self.strength == 0.0:
            return styled_bgr
        gray = small_gray(input_bgr, self.max_side)
        prev_gray, prev_out = self._prev_gray, self._prev_out
        self._prev_gray = gray
        if prev_gray is None or prev_gray.shape != gray.shape or prev_out.shape != styled_bgr.shape:
            self._prev_out = styled_bgr
            return styled_bgr
        backward, confidence = self.confidence(gray, prev_gray)
        self.last_confidence = float(confidence.mean())
        if self.last_confidence < CUT_MEAN_CONFIDENCE:
            self.cuts += 1
            self._prev_out = styled_bgr
            return styled_bgr
        out = self._blend(styled_bgr, prev_out, backward, confidence)
        self._prev_out = out
        return out

    def _blend(self, styled: np.ndarray, prev_out: np.ndarray, flow_small: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        h, w = styled.shape[:2]
        sh, sw = flow_small.shape[:2]
        # The sampling map is built at the small size and upsampled once: a bilinear
        # resize of (grid + flow) is exact for the grid part, and saves two full-size passes.
        scale = np.array([w / sw, h / sh], np.float32)
        small_map = (self._grid(sh, sw) + 0.5) * scale - 0.5 + flow_small * scale
        full_map = cv2.resize(small_map, (w, h), interpolation=cv2.INTER_LINEAR)
        warped = cv2.remap(prev_out, full_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        weight = cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(self.strength)
        return cv2.blendLinear(styled, warped, 1.0 - weight, weight)
