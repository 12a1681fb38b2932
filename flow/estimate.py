"""Optical flow between consecutive frames, cheap enough to run beside the model.

OpenCV's DIS flow on small grayscale copies: the motion that matters for carrying a
cartoon from one frame to the next is smooth (flat regions, few fine details), so a
long side of at most ~400 px is enough. Frames are shrunk by an *integer* factor:
OpenCV's area resize has a fast path for it, and the common sizes divide exactly
(1280x720 / 4 = 320x180, 1920x1080 / 5 = 384x216).

Flows stay at the small size, in small-image pixels, with the factor that converts
them to full-size pixels (:attr:`FlowPair.factor`). That is what makes the stabilizer
fastest: its consistency and photometric checks run on the small grid, and the one
full-size thing it needs, the sampling map for the warp, comes from a single resize of
a small map (:func:`full_size_map`) instead of upsampling two flows and a grid.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_MAX_SIDE = 400
DIS_MIN_SIDE = 12
"""OpenCV's DIS needs at least one side this long."""
FAST_ITERATIONS = 4
"""Gradient-descent steps per patch of the fast flow. ULTRAFAST's 12 were no more
accurate on 720p pans (median error ~0.2 px either way) and warping error after
stabilization came out lower with 4."""
REFINEMENT_ITERATIONS = 2
"""Variational refinement steps per level: 2 took out as much flicker as the 5 of DIS's
FAST and MEDIUM presets on carphone (0.283x vs 0.282x at 0.7), at half the refinement cost."""


def shrink_factor(height: int, width: int, max_side: int) -> int:
    """Smallest integer factor that brings the long side to at most ``max_side``."""
    return max(1, math.ceil(max(height, width) / max_side))


def small_gray(frame_bgr: np.ndarray, factor: int) -> np.ndarray:
    """Grayscale copy shrunk ``factor`` times (area average, which also tames sensor noise)."""
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    if factor == 1:
        return gray
    h, w = gray.shape
    size = (max(8, round(w / factor)), max(8, round(h / factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


@functools.lru_cache(maxsize=8)
def sampling_grid(height: int, width: int) -> np.ndarray:
    """Pixel coordinates ``[H,W,2]`` (x, y), float32, to add flows to for ``remap``.

    Made once per size and shared by every user (the stabilizer, the propagation, the
    matte's steadiness, the metric): the size rarely changes, and building it costs a
    pass over the frame. Read-only, since it is shared; adding a flow makes a new array."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


Flow = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(source gray, target gray) -> flow ``f`` with ``source(x) ~ target(x + f(x))``, float32 ``[H,W,2]``."""


class FlowEstimator:
    """One reusable DIS instance (it keeps its pyramids and scratch buffers between calls).

    ``finest_scale`` is the pyramid level DIS stops at (0 = the given image; each level
    halves it), ``iterations`` the gradient-descent steps per patch, ``refinement`` the
    variational refinement steps per level; ``None`` keeps the preset's value.
    """

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, finest_scale: int | None = None,
                 iterations: int | None = None, refinement: int | None = None) -> None:
        self._dis = cv2.DISOpticalFlow_create(preset)
        if refinement is not None:
            self._dis.setVariationalRefinementIterations(refinement)
        if finest_scale is not None:
            self._dis.setFinestScale(finest_scale)
        if iterations is not None:
            self._dis.setGradientDescentIterations(iterations)

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow ``f`` with ``source(x) ~ target(x + f(x))``, float32 ``[H,W,2]``.

        DIS refuses images under :data:`DIS_MIN_SIDE` pixels on both sides; those are
        padded (edges replicated) and the flow is cropped back, so a tiny video has a
        flow like any other instead of crashing the stabilizer and the metrics.
        """
        h, w = source.shape[:2]
        if h >= DIS_MIN_SIDE or w >= DIS_MIN_SIDE:
            return self._dis.calc(source, target, None)
        pad = ((0, DIS_MIN_SIDE - h), (0, DIS_MIN_SIDE - w))
        flow = self._dis.calc(np.pad(source, pad, mode="edge"), np.pad(target, pad, mode="edge"), None)
        return np.ascontiguousarray(flow[:h, :w])


def fast_flow() -> FlowEstimator:
    """The stabilizer's flow: ULTRAFAST patches down to half the small image, then DIS's
    variational refinement (a smoothness-regularized polish of the dense field).

    On recorded clips (``docs/temporal.md``) flow accuracy decides how much flicker the
    stabilizer can take out at a given fidelity: stopping at a quarter of the small
    image without refinement left warping error at 0.39x the per-frame output's on
    carphone (anime, 35.9 dB); this flow took it to 0.30x at the same stability, and
    0.28x at 36.2 dB with today's confidence and default.
    """
    return FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, finest_scale=1, iterations=FAST_ITERATIONS,
                         refinement=REFINEMENT_ITERATIONS)


def pull(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """``out(x) = image(coords(x))``, bilinear; edges replicate, as content leaving the frame would."""
    return cv2.remap(image, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def full_size_map(flow: np.ndarray, grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Full-size ``remap`` coordinates ``x + flow(x)`` from a small flow and its grid.

    Built small and resized once: bilinear resizing reproduces the grid part exactly
    (it is affine) and interpolates the flow, so no full-size grid or flow is needed.
    """
    sh, sw = flow.shape[:2]
    scale = np.array([width / sw, height / sh], np.float32)
    small_map = (grid + flow + np.float32(0.5)) * scale - np.float32(0.5)
    if (sh, sw) == (height, width):
        return small_map
    return cv2.resize(small_map, (width, height), interpolation=cv2.INTER_LINEAR)


def blend(first: np.ndarray, second: np.ndarray, weight_small: np.ndarray) -> np.ndarray:
    """``first*w + second*(1-w)`` in uint8, ``w`` a small 0..1 weight map resized to full size.

    Weights quantized to 1/255 and two rounded products keep it within two levels of a
    float blend, and faster than ``cv2.blendLinear``, which needs two full-size float
    weight maps. The stabilizer's history and the propagation's fade and fills all blend here.
    """
    h, w = first.shape[:2]
    weight = np.rint(weight_small * np.float32(255.0)).astype(np.uint8)
    weight = cv2.resize(cv2.merge([weight] * 3), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.add(cv2.multiply(first, weight, scale=1.0 / 255.0),
                   cv2.multiply(second, cv2.bitwise_not(weight), scale=1.0 / 255.0))


def upsample_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """A small flow resized to ``height x width`` and converted to that size's pixels."""
    sh, sw = flow.shape[:2]
    if (sh, sw) == (height, width):
        return flow
    full = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    full *= np.array([width / sw, height / sh], np.float32)
    return full


@dataclass(frozen=True)
class FlowPair:
    """Motion between the previous and the current frame, on the small grid."""

    backward: np.ndarray
    """Current -> previous: ``current(x) ~ previous(x + backward(x))``; pulls the previous frame in."""
    forward: np.ndarray | None
    """Previous -> current, for a forward-backward consistency check; None when not asked for."""
    gray: np.ndarray
    """The current frame, small and gray."""
    prev_gray: np.ndarray
    """The previous frame, small and gray."""
    factor: int
    """Full-size pixels per small pixel (approximately, when the size does not divide)."""

    def reversed(self) -> FlowPair:
        """The same two frames with time running backwards: the current frame becomes the
        previous one. Needs the forward flow (``SequenceFlow(both_ways=True)``)."""
        if self.forward is None:
            raise ValueError("reversing a flow pair needs its forward flow (SequenceFlow(both_ways=True))")
        return FlowPair(self.forward, self.backward, self.prev_gray, self.gray, self.factor)


class SequenceFlow:
    """Flows between consecutive frames of one sequence; each frame is shrunk only once.

    Call it with every frame in order. It returns ``None`` for the first frame and
    whenever the frame size changes (there is no previous frame to relate to).
    ``both_ways=False`` skips the forward flow (half the cost) for users that only
    pull the previous frame in.
    """

    def __init__(self, max_side: int = DEFAULT_MAX_SIDE, estimator: Flow | None = None,
                 both_ways: bool = True) -> None:
        self.max_side = max_side
        self.both_ways = both_ways
        self._flow = estimator or fast_flow()
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame."""
        self._prev_gray: np.ndarray | None = None
        self._full_size: tuple[int, int] | None = None

    def __call__(self, frame_bgr: np.ndarray) -> FlowPair | None:
        full_size = frame_bgr.shape[:2]
        factor = shrink_factor(*full_size, self.max_side)
        gray = small_gray(frame_bgr, factor)
        prev_gray, same_size = self._prev_gray, full_size == self._full_size
        self._prev_gray, self._full_size = gray, full_size
        if prev_gray is None or not same_size:
            return None
        forward = self._flow(prev_gray, gray) if self.both_ways else None
        return FlowPair(self._flow(gray, prev_gray), forward, gray, prev_gray, factor)
