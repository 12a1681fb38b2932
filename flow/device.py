"""The stabilizer's checks, warp and blend on torch tensors, so a frame on the GPU stays there.

Op for op the twin of :mod:`flow.estimate`'s ``pull``/``full_size_map``/``blend`` and
:func:`flow.stabilize.flow_confidence`, which stay the reference (and the fastest on a
CPU). Frames are ``[1,3,H,W]`` float32 on the uint8 grid, as :class:`dctnet.frame_ops.TensorOps`
keeps them; small-grid maps are ``[h,w]`` or ``[h,w,2]``. Each step rounds where OpenCV
rounds, so the two paths agree within a level or two (``tests/test_flow_device.py``):

- ``cv2.remap`` quantizes its sampling coordinates to 1/32 pixel before interpolating;
  :func:`pull` does the same, and rounds uint8 results half up as OpenCV's fixed point
  does (:func:`to_levels`), so a pull of a uint8 picture matches ``cv2.remap`` exactly.
- The one remaining difference is the uint8 resize of the blend weight, which OpenCV
  does in 11-bit fixed point with truncating steps: a weight level off now and then,
  a picture level off after the blend.

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


def resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``cv2.resize(..., INTER_LINEAR)`` of ``[N,C,h,w]`` (half-pixel centres, edges clamped), unrounded."""
    if tuple(image.shape[-2:]) == (height, width):
        return image
    return F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False)


def full_size_map(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Full-size coordinates ``x + flow(x)`` from a small ``[h,w,2]`` flow, as :func:`flow.estimate.full_size_map`."""
    sh, sw = flow.shape[:2]
    scale = torch.tensor([width / sw, height / sh], dtype=torch.float32, device=flow.device)
    small_map = (sampling_grid(sh, sw, flow.device) + flow + 0.5) * scale - 0.5
    return resize(small_map.permute(2, 0, 1)[None], height, width)[0].permute(1, 2, 0)


def blend(first: torch.Tensor, second: torch.Tensor, weight_small: torch.Tensor) -> torch.Tensor:
    """``first*w + second*(1-w)`` on the uint8 grid, ``w`` a small ``[h,w]`` 0..1 map, as
    :func:`flow.estimate.blend` (weights on 1/255 steps, two rounded products, saturated)."""
    weight = torch.round(weight_small * 255.0)[None, None]
    weight = to_levels(resize(weight, *first.shape[-2:]))
    inverse = 255.0 - weight
    return (torch.round(first * weight * (1.0 / 255.0)) + torch.round(second * inverse * (1.0 / 255.0))).clamp_(max=255.0)


@functools.lru_cache(maxsize=4)
def _gaussian_taps(size: int, device: torch.device) -> torch.Tensor:
    """OpenCV's own 1-D kernel for ``size`` with sigma 0 (a fixed table for sizes up to 7)."""
    return torch.from_numpy(cv2.getGaussianKernel(size, 0, ktype=cv2.CV_32F).ravel()).to(device)


def gaussian_blur(image: torch.Tensor, size: int) -> torch.Tensor:
    """``cv2.GaussianBlur(image, (size, size), 0)`` of an ``[h,w]`` float map: separable, edges
    reflected without repeating the edge pixel (OpenCV's default border)."""
    taps, pad = _gaussian_taps(size, image.device), size // 2
    padded = F.pad(image[None, None], (pad, pad, pad, pad), mode="reflect")
    across = F.conv2d(padded, taps.view(1, 1, 1, size))
    return F.conv2d(across, taps.view(1, 1, size, 1))[0, 0]


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
