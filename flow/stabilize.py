"""Temporal stabilization: carry the previous output along the input's motion.

Per-frame stylization flickers: the same skin renders a little differently each
frame. Where the input's motion is known and trustworthy, the previous *output*,
warped to the current frame, is the best prediction of what the current output
should be; blending it in suppresses flicker without smearing motion:

    out_t = S_t * (1 - a(dt)*c) + warp(out_{t-1}) * (a(dt)*c)

``S_t`` is the per-frame output and ``c`` a per-pixel confidence: how well the
previous *input*, warped along the same flow, predicts the current input. Occluded
or newly shown content, flow failures, lighting jumps and scene cuts all make that
prediction wrong, so they get low confidence and show up at once. The history is
the stabilizer's own output, which makes the filter recursive.

``a(dt)`` is the user's stability ``a`` (0 = off, bit-exact; "strength" is the cartoon's
blend with the camera picture, a different thing) for frames one
:data:`REFERENCE_INTERVAL` apart, and decays as ``a ** (dt / REFERENCE_INTERVAL)``
for frames further apart: the history keeps the same memory *in seconds* whatever
the frame rate. A live model that runs at 3 fps blends frames 0.33 s apart, where
eyes and mouths have moved and the flow is least sure; at the 30 fps weight there,
the previous frame's features stayed visible as doubled eyes and mouths.

Everything but the warp of the previous output and the blend runs on the small
grid of :mod:`flow.estimate`; those two run on uint8 at full size. Measurements
behind each choice are in ``docs/temporal.md``. A frame that is a torch tensor (on the
GPU, where the model left it) is stabilized there, by the same steps in :mod:`flow.device`.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from . import device
from .estimate import FlowPair, blend, full_size_map, pull, sampling_grid

DEFAULT_STABILITY = 0.7
REFERENCE_INTERVAL = 1001 / 30000
"""Frame interval (s) at which ``stability`` applies as given: a 29.97 fps camera or file."""
PHOTOMETRIC_LEVELS = 24.0
"""Gray-level error of the warped previous input (small image) at which confidence falls to 1/e."""
CUT_MEAN_CONFIDENCE = 0.5
"""Below this mean confidence the frame is treated as a scene cut: history resets. On the
real clips of docs/temporal.md cut frames score 0.14-0.44 and every other frame 0.78 or more."""


def decayed_weight(weight: float, previous: float | None, time: float | None) -> float:
    """A recursive blend's weight ``weight`` (given for frames one :data:`REFERENCE_INTERVAL`
    apart) for a frame at ``time`` after one at ``previous``: ``weight ** (dt / interval)``.

    Never more than ``weight`` (a faster source does not make the history
    heavier); 0 when time went backwards (a seek or a restarted clock: the
    history belongs to another moment).
    """
    if time is None or previous is None:
        return weight
    elapsed = time - previous
    if elapsed <= 0.0:
        return 0.0
    return weight ** max(1.0, elapsed / REFERENCE_INTERVAL)


def flow_confidence(pair: FlowPair, grid: np.ndarray) -> np.ndarray:
    """Per-pixel trust in ``pair.backward``, in [0, 1], on the small grid (``grid`` is its
    :func:`~flow.estimate.sampling_grid`): how well the previous input, pulled along the
    flow, predicts the current one."""
    prev_there = pull(pair.prev_gray, grid + pair.backward)
    photometric = cv2.absdiff(prev_there, pair.gray).astype(np.float32) * np.float32(1.0 / PHOTOMETRIC_LEVELS)
    # Lightly smoothed: isolated trusted pixels inside distrusted areas are flow luck.
    return cv2.GaussianBlur(cv2.exp(-(photometric * photometric)), (5, 5), 0)


Combine = Callable[[np.ndarray, np.ndarray, FlowPair, np.ndarray], np.ndarray]
"""(new picture, history, the motion, per-pixel weights on the small grid) -> their blend."""
DeviceCombine = Callable[[torch.Tensor, torch.Tensor, device.DevicePair, torch.Tensor], torch.Tensor]
"""The same on device tensors (:mod:`flow.device`)."""


class RecursiveBlend:
    """The one recursive, confidence-weighted blend along the backward flow.

    Each new picture is blended with the history carried along the motion, by the
    flow's confidence times ``weight`` (decayed with the time between frames), and the
    result becomes the history. A first frame, a size change, a gap in time or a cut
    (mean confidence under :data:`CUT_MEAN_CONFIDENCE`) takes the new picture alone.
    The stabilizer (uint8 frames, full size) and the matte's steadiness (a float matte
    on the small grid) differ only in ``combine``. A torch tensor picture takes
    ``device_combine``, with the confidence computed on its device too: the frame is
    never copied to the host (the cut decision reads one number back).
    """

    def __init__(self, weight: float, combine: Combine, device_combine: DeviceCombine | None = None) -> None:
        self.weight, self.combine, self.device_combine = weight, combine, device_combine
        self.cuts = 0
        """Scene cuts detected so far (history dropped because motion could not be trusted)."""
        self._history: np.ndarray | None = None
        self._time: float | None = None

    def reset(self) -> None:
        self._history = None
        self._time = None

    def weight_after(self, time: float | None) -> float:
        """The history's weight for a frame at ``time``, after the previous one (:func:`decayed_weight`)."""
        return decayed_weight(self.weight, self._time, time)

    def __call__(self, pair: FlowPair | None, new: np.ndarray,
                 time: float | None) -> tuple[np.ndarray, np.ndarray | None]:
        """(the blend, the history's per-pixel weight on the small grid, or None where the
        history was not used)."""
        history, self._history = self._history, new
        weight, self._time = self.weight_after(time), time
        if pair is None or history is None or history.shape != new.shape or weight == 0.0:
            return new, None
        if isinstance(new, torch.Tensor):
            if self.device_combine is None:
                raise TypeError("this blend has no device path: give it numpy arrays")
            motion = device.DevicePair.upload(pair, new.device)
            confidence, combine = device.flow_confidence(motion, PHOTOMETRIC_LEVELS), self.device_combine
        else:
            motion, confidence, combine = pair, flow_confidence(pair, sampling_grid(*pair.gray.shape)), self.combine
        if float(confidence.mean()) < CUT_MEAN_CONFIDENCE:
            self.cuts += 1
            return new, None
        weights = confidence * np.float32(weight)
        self._history = combine(new, history, motion, weights)
        return self._history, weights


def carried_blend(styled: np.ndarray, history: np.ndarray, pair: FlowPair, weights: np.ndarray) -> np.ndarray:
    """``styled*(1-w) + warp(history)*w`` in uint8: the history warped at full size along the
    backward flow (one small sampling map, resized once: :func:`~flow.estimate.full_size_map`)."""
    h, w = styled.shape[:2]
    coords = full_size_map(pair.backward, sampling_grid(*pair.backward.shape[:2]), h, w)
    return blend(pull(history, coords), styled, weights)


class Stabilizer:
    """Feed it (the frame's motion, per-frame output, time) in order; it returns stable outputs.

    The motion is the chain's (``FrameProcessor`` computes it once per frame for every
    stage that needs it), so the stabilizer estimates none of its own. The returned
    array is also kept as the history for the next frame: callers must not draw on it
    in place. ``time`` is the frame's timestamp in seconds (file position or capture
    clock); without one, frames are taken as :data:`REFERENCE_INTERVAL` apart.
    """

    def __init__(self, stability: float = DEFAULT_STABILITY) -> None:
        if not 0.0 <= stability <= 1.0:
            raise ValueError(f"stability must be in [0, 1], got {stability}")
        self._recursion = RecursiveBlend(stability, carried_blend, device.carried_blend)

    @property
    def stability(self) -> float:
        return self._recursion.weight

    @stability.setter
    def stability(self, value: float) -> None:
        self._recursion.weight = value

    @property
    def cuts(self) -> int:
        """Scene cuts detected so far (history dropped because motion could not be trusted)."""
        return self._recursion.cuts

    def reset(self) -> None:
        """Forget the history (new clip, seek)."""
        self._recursion.reset()

    def step(self, pair: FlowPair | None, styled_bgr: np.ndarray | torch.Tensor,
             time: float | None = None) -> np.ndarray | torch.Tensor:
        """The stable output for ``styled_bgr``; ``pair`` is the input's motion from the frame
        before (None on a first frame or after a size change). ``styled_bgr`` is HxWx3 uint8,
        or a ``[1,3,H,W]`` float32 tensor on the uint8 grid (as :class:`dctnet.frame_ops.TensorOps`
        keeps frames), stabilized on its device and returned as one."""
        if self.stability == 0.0:  # off means off: no stale history if it is turned on again later
            self.reset()
            return styled_bgr
        return self.weighted_step(pair, styled_bgr, time)[0]

    def weighted_step(self, pair: FlowPair | None, styled_bgr: np.ndarray,
                      time: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """As :meth:`step`, also returning the history's per-pixel weight on the small grid
        (None where the history was not used: a first frame, a cut, a long gap), which a
        two-sided blend needs (:mod:`flow.two_sided`)."""
        return self._recursion(pair, styled_bgr, time)

    def weight_after(self, time: float | None) -> float:
        """The history's blend weight ``a(dt)`` for a frame at ``time``, after the previous one (:func:`decayed_weight`)."""
        return self._recursion.weight_after(time)

    def confidence(self, pair: FlowPair) -> np.ndarray:
        """Per-pixel trust in the backward flow, in [0, 1], on the small grid (:func:`flow_confidence`)."""
        return flow_confidence(pair, sampling_grid(*pair.gray.shape))
