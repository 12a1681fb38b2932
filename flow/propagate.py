"""Carry a keyframe's cartoon to later frames along the input's optical flow.

A slow model can only stylize some frames (*keyframes*). Every frame in between is
shown as the newest keyframe's cartoon warped to that frame: the flow is measured
directly between the keyframe's *input* and the current input (not chained frame
to frame), so a keyframe that arrives late, computed on a frame the output has
long passed, is brought forward to the current frame in one step, and errors do
not pile up along a chain of warps (measured in docs/benchmarks.md).

Where the flow cannot be trusted (forward-backward disagreement, the warped
keyframe input not matching the current input, very large motion), the warped
cartoon is wrong: uncovered background, a hand that was not in the keyframe. Those
pixels are *filled*; the fills compared in docs/benchmarks.md are kept as
:class:`Fill` choices. A frame whose trust is too low as a whole (a scene cut, a
big move) asks for a new keyframe (:attr:`Propagated.needs_keyframe`).

Like the stabilizer, everything but the full-size warp and blends runs on the
small grid of :mod:`flow.estimate`. Nothing here knows about faces or styles: the
cheap stylization used by :attr:`Fill.STYLIZE` is handed in by the caller.

A keyframe cartoon that is a torch tensor (``[1,3,H,W]`` on the uint8 grid, left on the
GPU by the model) is carried on its device: the full-size warp and blends run there
(:mod:`flow.device`, bit-exact with OpenCV's), while the flows, the trust map and every
decision stay on the host, where the flow already is, so nothing waits on the device.
Only a fill's stylized crop and its weights go up.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from . import device
from .estimate import (DEFAULT_MAX_SIDE, FAST_ITERATIONS, FlowEstimator, blend, full_size_map, pull,
                       sampling_grid, shrink_factor, small_gray)

CONSISTENCY_PX = 2.0
"""Forward-backward disagreement (small-image pixels) at which trust falls to 1/e."""
PHOTOMETRIC_LEVELS = 30.0
"""Gray-level error of the warped keyframe input (small image) at which trust falls to 1/e."""
MOTION_SHARE = 0.15
"""Motion (share of the small image's long side) at which trust falls to 1/e: far-moved
content is blurred and re-lit, so even a consistent flow carries the wrong picture."""
UNTRUSTED = 0.5
"""Trust below which a pixel counts as untrusted (filled, and counted for a new keyframe)."""
KEYFRAME_UNTRUSTED_SHARE = 0.3
"""Share of untrusted pixels above which a frame asks for a new keyframe (a cut, a big move)."""
STYLIZE_CROP_SIDE = 192
"""Long side the untrusted crop is stylized at by :attr:`Fill.STYLIZE`: a fixed, small cost
whatever the frame size (toon-filter on one thread: about 6 ms at 192 px, on the output thread
of each carried frame with untrusted pixels); the fill is seen only where the warp failed,
until the next model frame. 128 px halved that but cost 1.5-3 dB against the per-frame
cartoon and looked blurred after cuts (docs/privacy.md)."""
CROP_MARGIN = 8
"""Small-grid pixels added around the untrusted box, so the fill blends into context."""
FADE_FRAMES = 4
"""Frames over which a new keyframe fades in over the previous one carried forward. A cut
from one keyframe to the next is a visible jump (the old one has drifted): measured on a
real clip, it was most of the warping error of the propagated output."""
FINEST_SCALE = 1
"""DIS pyramid level the propagation's flow stops at. The stabilizer's level 2 is coarse for
motion accumulated over several frames: level 1 raised fidelity at keyframe interval 6
from 36.3 to 37.2 dB and cut warping error by a fifth (carphone at 704x576, toon)."""


class Fill(enum.Enum):
    """What untrusted pixels show."""

    NONE = "none"
    """The warped cartoon anyway (the baseline the others are measured against)."""
    NEAREST = "nearest"
    """The keyframe's cartoon from the nearest trusted position (flow extended outwards)."""
    STYLIZE = "stylize"
    """A cheap stylization of the current camera picture, on a small crop around them."""
    CAMERA = "camera"
    """The current camera picture: measured for comparison only; never used by LiveToon, whose
    outputs must not carry an unstylized camera pixel (docs/privacy.md)."""


Picture = np.ndarray | torch.Tensor
"""A cartoon: HxWx3 uint8 BGR, or a ``[1,3,H,W]`` float32 tensor on the uint8 grid, on its device."""


def carry(cartoon: Picture, flow: np.ndarray, height: int, width: int) -> Picture:
    """``cartoon`` pulled at full size along a small flow, where the cartoon lives."""
    if isinstance(cartoon, torch.Tensor):
        coords = device.full_size_map(torch.from_numpy(flow).to(cartoon.device), height, width)
        return device.to_levels(device.pull(cartoon, coords))
    return pull(cartoon, full_size_map(flow, sampling_grid(*flow.shape[:2]), height, width))


def blend_onto(first: Picture, second: Picture | np.ndarray, weight: np.ndarray) -> Picture:
    """:func:`~flow.estimate.blend` where ``first`` lives; ``second`` and the host's ``weight`` go up to it."""
    if isinstance(first, torch.Tensor):
        if isinstance(second, np.ndarray):
            second = torch.from_numpy(second).to(first.device).permute(2, 0, 1)[None].float()
        return device.blend(first, second, torch.from_numpy(weight).to(first.device))
    return blend(first, second, weight)


@dataclass(frozen=True)
class Propagated:
    image: Picture
    """The output frame, full size: uint8 BGR, or a tensor where the keyframe cartoon was one."""
    trust: np.ndarray
    """Per-pixel trust in the warp, 0..1, on the small grid."""
    untrusted_share: float
    """Share of pixels below :data:`UNTRUSTED`."""
    needs_keyframe: bool
    """Too much of the frame is untrusted: the caller should stylize a keyframe now."""


def nearest_trusted_flow(flow: np.ndarray, untrusted: np.ndarray) -> np.ndarray:
    """``flow`` with every untrusted pixel given the flow of its nearest trusted pixel."""
    if not untrusted.any() or untrusted.all():
        return flow
    _, labels = cv2.distanceTransformWithLabels(untrusted.astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    trusted_at = np.flatnonzero(~untrusted)  # labels number the trusted pixels in raster order, from 1
    source = trusted_at[labels[untrusted] - 1]
    filled = flow.copy()
    filled[untrusted] = flow.reshape(-1, 2)[source]
    return filled


def untrusted_box(untrusted: np.ndarray, margin: int = CROP_MARGIN) -> tuple[slice, slice] | None:
    """Small-grid slices around the untrusted pixels (with a margin), or None when there are none."""
    ys, xs = np.nonzero(untrusted)
    if ys.size == 0:
        return None
    h, w = untrusted.shape
    return (slice(max(0, ys.min() - margin), min(h, ys.max() + 1 + margin)),
            slice(max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)))


def scaled_box(box: tuple[slice, slice], factor_yx: tuple[float, float]) -> tuple[slice, slice]:
    """A small-grid box in full-size pixels."""
    (rows, cols), (fy, fx) = box, factor_yx
    return slice(round(rows.start * fy), round(rows.stop * fy)), slice(round(cols.start * fx), round(cols.stop * fx))


def stylize_small(stylize: Callable[[np.ndarray], np.ndarray], crop: np.ndarray) -> np.ndarray:
    """``stylize`` run on ``crop`` shrunk to :data:`STYLIZE_CROP_SIDE`, grown back to its size."""
    h, w = crop.shape[:2]
    scale = min(1.0, STYLIZE_CROP_SIDE / max(h, w))
    if scale == 1.0:
        return stylize(crop)
    small = cv2.resize(crop, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize(stylize(small), (w, h), interpolation=cv2.INTER_LINEAR)


class Propagator:
    """Holds the newest keyframe; turns each camera frame into its propagated cartoon.

    ``stylize`` (BGR uint8 crop -> cartoon crop of the same size) is needed by
    :attr:`Fill.STYLIZE` only.
    """

    def __init__(self, fill: Fill = Fill.STYLIZE, stylize: Callable[[np.ndarray], np.ndarray] | None = None,
                 max_side: int = DEFAULT_MAX_SIDE, estimator: FlowEstimator | None = None) -> None:
        if fill is Fill.STYLIZE and stylize is None:
            raise ValueError("Fill.STYLIZE needs a stylize function")
        self.fill, self.stylize, self.max_side = fill, stylize, max_side
        self._flow = estimator or FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, finest_scale=FINEST_SCALE,
                                                iterations=FAST_ITERATIONS)
        self.reset()

    def reset(self) -> None:
        """Forget the keyframe (new clip, new style)."""
        self._key_gray: np.ndarray | None = None
        self._key_cartoon: np.ndarray | None = None
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._fade = 0

    @property
    def has_keyframe(self) -> bool:
        return self._key_cartoon is not None

    def set_keyframe(self, input_bgr: np.ndarray, cartoon_bgr: Picture) -> None:
        """The model's output for ``input_bgr``; later frames are warped from it (the previous
        keyframe fading out over the next :data:`FADE_FRAMES` frames)."""
        factor = shrink_factor(*input_bgr.shape[:2], self.max_side)
        if self._key_gray is not None and self._key_cartoon is not None:
            self._previous, self._fade = (self._key_gray, self._key_cartoon), FADE_FRAMES
        self._key_gray, self._key_cartoon = small_gray(input_bgr, factor), cartoon_bgr

    def arrived(self, input_bgr: np.ndarray, cartoon_bgr: Picture) -> Picture:
        """Set a keyframe computed on ``input_bgr`` itself; returns that frame's output."""
        self.set_keyframe(input_bgr, cartoon_bgr)
        return self._faded(input_bgr, cartoon_bgr)

    def _faded(self, input_bgr: np.ndarray, image: Picture) -> Picture:
        """``image`` with the previous keyframe, carried to this frame, faded over it."""
        if self._fade <= 0 or self._previous is None:
            return image
        self._fade -= 1
        key_gray, key_cartoon = self._key_gray, self._key_cartoon
        self._key_gray, self._key_cartoon = self._previous
        try:
            old = self._warped(input_bgr)
        finally:
            self._key_gray, self._key_cartoon = key_gray, key_cartoon
        if old is None:
            return image
        share = (self._fade + 1) / (FADE_FRAMES + 1)
        return blend_onto(old[0], image, old[1] * np.float32(share))

    def trust(self, gray: np.ndarray, backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
        """Per-pixel trust in ``backward`` (current -> keyframe), 0..1, on the small grid."""
        coords = sampling_grid(*gray.shape) + backward
        round_trip = backward + pull(forward, coords)
        photometric = cv2.absdiff(pull(self._key_gray, coords), gray).astype(np.float32)
        motion_px = np.float32(MOTION_SHARE * max(gray.shape))
        score = (round_trip[..., 0] ** 2 + round_trip[..., 1] ** 2) * np.float32(1.0 / CONSISTENCY_PX**2)
        score += (photometric * np.float32(1.0 / PHOTOMETRIC_LEVELS)) ** 2
        score += (backward[..., 0] ** 2 + backward[..., 1] ** 2) / motion_px**2
        # Smoothed, so the fill's border is soft and lone trusted pixels inside a bad area drop out.
        return cv2.GaussianBlur(cv2.exp(-score), (7, 7), 0)

    def __call__(self, input_bgr: np.ndarray) -> Propagated:
        """The keyframe's cartoon carried to ``input_bgr``; a keyframe must have been set."""
        if self._key_cartoon is None or self._key_gray is None:
            raise RuntimeError("no keyframe to propagate")
        warped = self._warped(input_bgr)
        if warped is None:
            # A new frame size: nothing to warp from. Hold the last cartoon (never the camera
            # picture: outputs must stay private) and ask for a keyframe.
            h, w = input_bgr.shape[:2]
            held = (device.resize_levels(self._key_cartoon, h, w) if isinstance(self._key_cartoon, torch.Tensor)
                    else cv2.resize(self._key_cartoon, (w, h), interpolation=cv2.INTER_LINEAR))
            return Propagated(held, np.zeros((1, 1), np.float32), 1.0, True)
        image, trust = warped
        untrusted = trust < UNTRUSTED
        share = float(untrusted.mean())
        image = self._faded(input_bgr, self._filled(image, input_bgr, trust, untrusted))
        return Propagated(image, trust, share, share > KEYFRAME_UNTRUSTED_SHARE)

    def _warped(self, input_bgr: np.ndarray) -> tuple[Picture, np.ndarray] | None:
        """(keyframe cartoon warped to ``input_bgr``, trust), None when the sizes differ."""
        h, w = input_bgr.shape[:2]
        gray = small_gray(input_bgr, shrink_factor(h, w, self.max_side))
        if gray.shape != self._key_gray.shape or self._cartoon_size() != (h, w):
            return None
        backward = self._flow(gray, self._key_gray)
        trust = self.trust(gray, backward, self._flow(self._key_gray, gray))
        flow = nearest_trusted_flow(backward, trust < UNTRUSTED) if self.fill is Fill.NEAREST else backward
        return carry(self._key_cartoon, flow, h, w), trust

    def _cartoon_size(self) -> tuple[int, int]:
        cartoon = self._key_cartoon
        return tuple(cartoon.shape[-2:]) if isinstance(cartoon, torch.Tensor) else cartoon.shape[:2]

    def _filled(self, warped: Picture, input_bgr: np.ndarray, trust: np.ndarray,
                untrusted: np.ndarray) -> Picture:
        if self.fill in (Fill.NONE, Fill.NEAREST):
            return warped
        small_box = untrusted_box(untrusted)
        if small_box is None:
            return warped  # the blend is confined to the untrusted box: the rest costs nothing
        (h, w), (sh, sw) = input_bgr.shape[:2], trust.shape
        box = scaled_box(small_box, (h / sh, w / sw))
        out = warped.clone() if isinstance(warped, torch.Tensor) else warped.copy()
        camera = np.ascontiguousarray(input_bgr[box])
        fill = camera if self.fill is Fill.CAMERA else stylize_small(self.stylize, camera)
        weight = cv2.resize(trust[small_box], camera.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        target = (..., *box) if isinstance(out, torch.Tensor) else box
        out[target] = blend_onto(out[target], fill, weight)
        return out


AUTO_UNTRUSTED_SHARE = 0.12
"""``every=None`` (adaptive): a keyframe once this share of the frame is untrusted..."""
AUTO_MAX_INTERVAL = 12
"""...or after this many frames, whatever the motion (slow drift adds up unseen)."""


class Keyframer:
    """Decides, frame by frame, whether to stylize (a keyframe) or to propagate.

    ``every=N``: every Nth frame is a keyframe; ``every=None``: adaptive, by how much
    of the frame the warp can no longer be trusted. Either way a frame that asks for
    a keyframe (a cut, a big move) gets one at once. Counts are kept for reports.
    """

    def __init__(self, propagator: Propagator, every: int | None) -> None:
        if every is not None and every < 1:
            raise ValueError(f"keyframe interval must be at least 1, got {every}")
        self.propagator, self.every = propagator, every
        self.keyframes = self.propagated = 0
        self._since = 0

    def reset(self) -> None:
        """New clip: no keyframe, counts from zero."""
        self.propagator.reset()
        self.keyframes = self.propagated = 0
        self._since = 0

    def _propagate(self, input_bgr: np.ndarray) -> Propagated | None:
        """The propagated frame when this frame may be one; None when it must be a keyframe."""
        limit = self.every or AUTO_MAX_INTERVAL
        if not self.propagator.has_keyframe or self._since + 1 >= limit:
            return None
        result = self.propagator(input_bgr)
        enough = AUTO_UNTRUSTED_SHARE if self.every is None else KEYFRAME_UNTRUSTED_SHARE
        return None if result.needs_keyframe or result.untrusted_share > enough else result

    def __call__(self, input_bgr: np.ndarray, stylize: Callable[[], Picture]) -> tuple[Picture, bool]:
        """(output, is_keyframe); ``stylize()`` runs the model on this frame when it is a keyframe."""
        result = self._propagate(input_bgr)
        if result is not None:
            self._since += 1
            self.propagated += 1
            return result.image, False
        cartoon = self.propagator.arrived(input_bgr, stylize())
        self._since = 0
        self.keyframes += 1
        return cartoon, True
