"""The stabilizer's checks, warp and blend, and the propagation's warp and blends, on torch
tensors, so a frame on the GPU stays there.

Op for op the twin of :mod:`flow.estimate`'s ``pull``/``full_size_map``/``blend`` and
:func:`flow.stabilize.flow_confidence`, which stay the reference (and the fastest on a
CPU). Frames are ``[1,3,H,W]`` float32 on the uint8 grid, as :class:`dctnet.frame_ops.TensorOps`
keeps them; small-grid maps are ``[h,w]`` or ``[h,w,2]``. Each step rounds where OpenCV
rounds, so the two paths agree bit for bit but where said (``tests/test_flow_device.py``):

- ``cv2.remap`` quantizes its sampling coordinates to 1/32 pixel before interpolating;
  :func:`pull` does the same, and rounds uint8 results half up as OpenCV's fixed point
  does (:func:`to_levels`), so a pull of a uint8 picture matches ``cv2.remap`` exactly.
- Resizes repeat OpenCV's arithmetic: float32 in its order for two-channel maps (the
  sampling map), 11-bit fixed point with its truncations for uint8 pictures (the blend
  weight). One-channel float maps take another path inside OpenCV, not repeated here:
  the propagation's fill weight is resized on the host.
- What remains is ``cv2.exp`` against ``torch.exp`` (a few 1e-7 in the stabilizer's
  confidence), which now and then moves a blend weight across a 1/255 step: a level,
  on a few pixels in a million.

Everything stays float32, on the GPU too: the sampling coordinates of a 1280 px frame
need it (as :func:`dctnet.frame_ops.warp` notes), and fp16 products of two 0..255 values
would miss the 2-level bound.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .estimate import FlowPair

REMAP_STEPS = 32
"""Sub-pixel positions ``cv2.remap`` tells apart (OpenCV's INTER_TAB_SIZE)."""
RESIZE_ONE = 2048
"""A weight of 1 in ``cv2.resize``'s fixed point for uint8 pictures (INTER_RESIZE_COEF_SCALE)."""


@dataclass(frozen=True)
class DevicePair:
    """A :class:`~flow.estimate.FlowPair` on the device: same fields, float32 tensors."""

    backward: torch.Tensor
    forward: torch.Tensor | None
    gray: torch.Tensor
    prev_gray: torch.Tensor
    factor: int

    @classmethod
    def upload(cls, pair: FlowPair, device: torch.device) -> DevicePair:
        """The small flows and grays, copied once per frame (about 0.6 MB at 720p)."""
        def up(array: np.ndarray | None) -> torch.Tensor | None:
            return None if array is None else torch.from_numpy(np.asarray(array, np.float32)).to(device)
        return cls(up(pair.backward), up(pair.forward), up(pair.gray), up(pair.prev_gray), pair.factor)


@functools.lru_cache(maxsize=8)
def sampling_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """Pixel coordinates ``[H,W,2]`` (x, y), as :func:`flow.estimate.sampling_grid`, made once per size and device."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32, device=device),
                            torch.arange(width, dtype=torch.float32, device=device), indexing="ij")
    return torch.stack([xs, ys], dim=-1)


def pull(image: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """``out(x) = image(coords(x))`` for ``[N,C,H,W]`` ``image`` and ``[h,w,2]`` pixel ``coords``:
    bilinear on ``cv2.remap``'s 1/32-pixel grid, edges replicated (each tap clamped into the
    frame). Not rounded: callers on the uint8 grid take :func:`to_levels`, as ``cv2.remap``
    rounds for uint8 images.

    Four gathers rather than ``grid_sample``: its normalised coordinates come back a float
    ulp off, which turns the exact halves that 1/32-pixel taps produce on integer pixels
    into a level's difference from OpenCV on ~0.4% of pixels. Here, with weights on 1/32
    steps and 0..255 pixels, every product and sum is exact in float32.
    """
    height, width = image.shape[-2:]
    steps = torch.round(coords * REMAP_STEPS) * (1.0 / REMAP_STEPS)
    corner = torch.floor(steps)
    fx, fy = (steps - corner).unbind(-1)
    x0, y0 = corner.to(torch.long).unbind(-1)
    xs = (x0.clamp(0, width - 1), (x0 + 1).clamp(0, width - 1))
    ys = (y0.clamp(0, height - 1), (y0 + 1).clamp(0, height - 1))
    top = image[..., ys[0], xs[0]] * (1.0 - fx) + image[..., ys[0], xs[1]] * fx
    bottom = image[..., ys[1], xs[0]] * (1.0 - fx) + image[..., ys[1], xs[1]] * fx
    return top * (1.0 - fy) + bottom * fy


def to_levels(values: torch.Tensor) -> torch.Tensor:
    """Rounded half up, as OpenCV's fixed-point remap and resize round their uint8 results
    (``torch.round`` goes half to even: on 1/32-pixel taps exact halves are common, and each
    one would be a level off)."""
    return torch.floor(values + 0.5)


@functools.lru_cache(maxsize=16)
def _linear_taps(source: int, size: int, columns: bool, fixed: bool, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(first tap, second tap, their weights) along one axis, as ``cv2.resize``'s INTER_LINEAR
    computes them: half-pixel centres; past an edge, a column's weight moves to the edge
    pixel, while a row keeps its weights over the edge row fetched twice (the sum of the
    two is not always exactly that row, so it must be done the same way). Weights are
    float32, or ``fixed``: int32 in 1/2048 steps, as OpenCV resizes uint8 pictures."""
    position = ((np.arange(size) + 0.5) * (source / size) - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    fraction = (position - first).astype(np.float32)
    if columns:
        fraction[(first < 0) | (first >= source - 1)] = 0.0
    first, second = first.clip(0, source - 1), (first + 1).clip(0, source - 1)
    weights = [np.float32(1.0) - fraction, fraction]
    if fixed:
        weights = [np.rint(w * np.float32(RESIZE_ONE)).astype(np.int32) for w in weights]
    return tuple(torch.from_numpy(a).to(device) for a in (first, second, *weights))


def resize_levels(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``cv2.resize(..., INTER_LINEAR)`` of ``[..., h, w]`` pictures on the uint8 grid, bit for
    bit: OpenCV's fixed point (11-bit weights, each row's two products truncated before the
    final rounding) in int32. A float resize rounded differs by a level on ~1% of pixels."""
    if tuple(image.shape[-2:]) == (height, width):
        return image
    x0, x1, a0, a1 = _linear_taps(image.shape[-1], width, True, True, image.device)
    y0, y1, b0, b1 = _linear_taps(image.shape[-2], height, False, True, image.device)
    levels = image.to(torch.int32)
    rows = (levels[..., x0] * a0 + levels[..., x1] * a1) >> 4
    summed = ((rows[..., y0, :] * b0[:, None]) >> 16) + ((rows[..., y1, :] * b1[:, None]) >> 16)
    return ((summed + 2) >> 2).to(image.dtype)


def resize_float(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``cv2.resize(..., INTER_LINEAR)`` of a float ``[h,w]`` or ``[h,w,C]`` map, repeating
    OpenCV's float arithmetic step for step (rows, then columns, same weights):
    ``F.interpolate`` lands a float ulp away, and on the 1/32-pixel grid of :func:`pull` an
    ulp can move a tap by a step, several levels on a hard edge."""
    if tuple(image.shape[:2]) == (height, width):
        return image
    x0, x1, a0, a1 = _linear_taps(image.shape[1], width, True, False, image.device)
    y0, y1, b0, b1 = _linear_taps(image.shape[0], height, False, False, image.device)
    spread = (slice(None),) + (None,) * (image.dim() - 2)  # the weights along their own axis only
    rows = image[:, x0] * a0[spread] + image[:, x1] * a1[spread]
    return rows[y0] * b0[spread][:, None] + rows[y1] * b1[spread][:, None]


def full_size_map(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Full-size coordinates ``x + flow(x)`` from a small ``[h,w,2]`` flow, as :func:`flow.estimate.full_size_map`."""
    sh, sw = flow.shape[:2]
    scale = torch.tensor([width / sw, height / sh], dtype=torch.float32, device=flow.device)
    return resize_float((sampling_grid(sh, sw, flow.device) + flow + 0.5) * scale - 0.5, height, width)


def blend(first: torch.Tensor, second: torch.Tensor, weight_small: torch.Tensor) -> torch.Tensor:
    """``first*w + second*(1-w)`` on the uint8 grid, ``w`` a small ``[h,w]`` 0..1 map, as
    :func:`flow.estimate.blend` (weights on 1/255 steps, two rounded products, saturated)."""
    return weighted(first, second, resize_levels(torch.round(weight_small * 255.0), *first.shape[-2:]))


def weighted(first: torch.Tensor, second: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``first*w/255 + second*(255-w)/255`` with ``w`` a full-size ``[H,W]`` plane of levels
    0..255: ``cv2.multiply(..., scale=1/255)`` of each (rounded half to even, as ``cvRound``)
    and a saturating ``cv2.add``, bit for bit."""
    inverse = 255.0 - weight
    return (torch.round(first * weight * (1.0 / 255.0)) + torch.round(second * inverse * (1.0 / 255.0))).clamp_(max=255.0)


def gaussian_blur(image: torch.Tensor, size: int) -> torch.Tensor:
    """``cv2.GaussianBlur(image, (size, size), 0)`` of an ``[h,w]`` float map: OpenCV's own taps,
    rows then columns, edges reflected without repeating the edge pixel (OpenCV's default).

    Sums of shifted copies, not ``conv2d``: on CUDA, cuDNN may run a float32 convolution in
    TF32 (10-bit mantissa), enough to move a confidence across a weight's 1/255 step.
    """
    taps = cv2.getGaussianKernel(size, 0, ktype=cv2.CV_32F).ravel().tolist()
    pad = size // 2
    padded = F.pad(image[None, None], (pad, pad, pad, pad), mode="reflect")[0, 0]
    height, width = image.shape
    across = sum(tap * padded[:, k:k + width] for k, tap in enumerate(taps))
    return sum(tap * across[k:k + height] for k, tap in enumerate(taps))


def flow_confidence(pair: DevicePair, photometric_levels: float) -> torch.Tensor:
    """As :func:`flow.stabilize.flow_confidence`: how well the previous input, pulled along
    the backward flow, predicts the current one, smoothed; ``[h,w]`` in 0..1."""
    grid = sampling_grid(*pair.gray.shape, pair.gray.device)
    prev_there = to_levels(pull(pair.prev_gray[None, None], grid + pair.backward))[0, 0]
    photometric = (prev_there - pair.gray).abs_() * (1.0 / photometric_levels)
    return gaussian_blur(torch.exp(-(photometric * photometric)), 5)


def carried_blend(styled: torch.Tensor, history: torch.Tensor, pair: DevicePair, weights: torch.Tensor) -> torch.Tensor:
    """As :func:`flow.stabilize.carried_blend`: the history warped along the backward flow at
    full size, blended over ``styled`` by ``weights``."""
    height, width = styled.shape[-2:]
    warped = to_levels(pull(history, full_size_map(pair.backward, height, width)))
    return blend(warped, styled, weights)
