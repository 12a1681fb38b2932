"""The DCT-Net texture translation network (TTN), exact to the official frozen graphs.

The official model is a small U-Net-like generator followed by a guided filter, all
inside one TensorFlow 1 graph. A faithful port has to reproduce three TF quirks that
PyTorch does not share (see ``../shared/docs/DCTNET_FACTS.md`` for the PSNR each one
costs when it is wrong):

* ``SAME`` padding on the stride-2 convolutions is asymmetric (extra row/column at the
  bottom/right), unlike PyTorch's symmetric ``padding=``;
* upsampling is TF1's legacy ``resize_bilinear`` (no half-pixel centres);
* the graph ends in a guided filter (r=1, eps=0.01) guided by the normalised input.

Module attribute names mirror the official layer names (``Conv_3``, ``block_2/conv1``)
so importers map ``generator/<layer>/...`` onto ``<layer>.weight`` with no lookup table.

Speed on the CPU (measured in ``docs/benchmarks.md``): for fp32 inference each
convolution is one oneDNN call with its leaky ReLU or residual add fused in (the
kernels ``torch.compile`` picks, without its compile time), on channels-last tensors,
so the 720x720x32 maps are not re-read by separate activation and add passes; and the
3-channel output convolution runs on 2x2 pixel blocks (:func:`to_rgb`). Training
(autograd) and other devices take the plain modules. Only the order of float sums
differs between the two (about 1e-5 before the uint8 cast).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import WeightsError

LEAKY_SLOPE = 0.2
GUIDED_FILTER_EPS = 0.01
CLIP_LIMIT = 0.999999
RESIDUAL_BLOCKS = 4
DEFAULT_CHANNELS = 32
SIZE_MULTIPLE = 4
"""H and W must be multiples of this: two stride-2 levels feed skip additions."""
BLOCK = 2
"""Pixel block side for :func:`to_rgb` (H and W are multiples of it: see SIZE_MULTIPLE)."""


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad like TensorFlow's ``SAME``: the odd extra pixel goes bottom/right."""
    pads: list[int] = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad wants the last dim first
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def upsample2x_tf1(x: torch.Tensor) -> torch.Tensor:
    """TF1 ``resize_bilinear(align_corners=False, half_pixel_centers=False)`` by 2.

    Output pixel 2i copies input i; 2i+1 is the mean of inputs i and i+1 (the last
    input repeats at the edge). This is not ``F.interpolate(mode="bilinear")`` as is;
    but sampling at i/2 is exactly ``align_corners=True`` from n+1 to 2n+1 points once
    the edge is replicated, and that is one vectorised kernel instead of four copies.
    """
    h, w = x.shape[-2:]
    edged = F.pad(x, (0, 1, 0, 1), mode="replicate")
    up = F.interpolate(edged, size=(2 * h + 1, 2 * w + 1), mode="bilinear", align_corners=True)
    return up[..., : 2 * h, : 2 * w]


def box_mean(x: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """3x3 mean over in-bounds pixels only (zero padding divided by the true count).

    A depthwise convolution rather than ``avg_pool2d``: on channels-last CPU tensors
    oneDNN's depthwise kernel is several times faster than the pooling one.
    """
    channels = x.shape[1]
    kernel = x.new_ones(channels, 1, 3, 3)
    return F.conv2d(x, kernel, padding=1, groups=channels) / count


def in_bounds_count(x: torch.Tensor) -> torch.Tensor:
    """Number of in-bounds pixels under each 3x3 window, shape ``[1,1,H,W]``."""
    ones = x.new_ones(1, 1, x.shape[-2], x.shape[-1])
    return F.conv2d(ones, x.new_ones(1, 1, 3, 3), padding=1)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, eps: float = GUIDED_FILTER_EPS) -> torch.Tensor:
    """He et al.'s guided filter with radius 1, per channel, as in the official graph."""
    count = in_bounds_count(guide)
    mean_x = box_mean(guide, count)
    mean_y = box_mean(src, count)
    cov_xy = box_mean(guide * src, count) - mean_x * mean_y
    var_x = box_mean(guide * guide, count) - mean_x * mean_x
    a = cov_xy / (var_x + eps)
    b = mean_y - a * mean_x
    return box_mean(a, count) * guide + box_mean(b, count)


HAS_FUSED_CONV = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
"""oneDNN's conv-plus-pointwise op (what ``torch.compile`` emits on CPUs); builds without it take the plain path."""


def fused_cpu(x: torch.Tensor) -> bool:
    """Whether :func:`conv` may use oneDNN's fused kernels (CPU fp32 inference only)."""
    return HAS_FUSED_CONV and x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()


def conv(layer: nn.Conv2d, x: torch.Tensor, activate: bool = True, residual: torch.Tensor | None = None) -> torch.Tensor:
    """``layer(x)``, then ``+ residual`` or the leaky ReLU (or nothing), in one pass where possible."""
    if fused_cpu(x):
        args = (layer.weight, layer.bias, list(layer.padding), list(layer.stride), list(layer.dilation), layer.groups)
        if residual is not None:
            return torch.ops.mkldnn._convolution_pointwise.binary(x, residual, *args, "add", None, None, [], None)
        unary = ("leaky_relu", [LEAKY_SLOPE]) if activate else ("none", [])
        return torch.ops.mkldnn._convolution_pointwise(x, *args, *unary, None)
    y = layer(x)
    if residual is not None:
        return y + residual
    return F.leaky_relu(y, LEAKY_SLOPE) if activate else y


def to_blocks(x: torch.Tensor, r: int) -> torch.Tensor:
    """``[N,C,H,W]`` -> ``[N,r*r*C,H/r,W/r]``: each r x r block of pixels becomes one pixel.

    Channel order is (row in block, column in block, channel) so that on channels-last
    memory the copy moves whole C-float runs.
    """
    n, c, h, w = x.shape
    blocks = x.permute(0, 2, 3, 1).reshape(n, h // r, r, w // r, r, c).permute(0, 1, 3, 2, 4, 5)
    return blocks.reshape(n, h // r, w // r, r * r * c).permute(0, 3, 1, 2)


def from_blocks(y: torch.Tensor, r: int) -> torch.Tensor:
    """The inverse of :func:`to_blocks`."""
    n, rrc, h, w = y.shape
    c = rrc // (r * r)
    pixels = y.permute(0, 2, 3, 1).reshape(n, h, w, r, r, c).permute(0, 1, 3, 2, 4, 5)
    return pixels.reshape(n, h * r, w * r, c).permute(0, 3, 1, 2)


def block_kernel(weight: torch.Tensor, r: int) -> tuple[torch.Tensor, int]:
    """The kernel and padding that do ``weight``'s stride-1 'same' convolution on r x r blocks.

    Output pixel ``r*i+a`` needs input ``r*i+a+d-p`` for taps ``d``; written as block
    ``i+q`` and offset ``s`` in the block, every (a, s) pair is a small kernel over ``q``.
    Each phase's taps are placed in a zero kernel spanning whole blocks and the block
    rows/columns are split out.
    """
    out_ch, in_ch, k, _ = weight.shape
    p = k // 2
    q_min = -p // r
    taps = (r - 1 + k - 1 - p) // r - q_min + 1
    span = taps * r
    spread = weight.new_zeros(r, r, out_ch, in_ch, span, span)
    for a in range(r):
        for b in range(r):
            top, left = a - p - r * q_min, b - p - r * q_min
            spread[a, b, :, :, top:top + k, left:left + k] = weight
    # [a, b, o, c, (qy, sy), (qx, sx)] -> [(a, b, o), (sy, sx, c), qy, qx]
    kernel = spread.reshape(r, r, out_ch, in_ch, taps, r, taps, r).permute(0, 1, 2, 5, 7, 3, 4, 6)
    return kernel.reshape(r * r * out_ch, r * r * in_ch, taps, taps).contiguous(memory_format=torch.channels_last), -q_min


def to_rgb(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The last convolution (to 3 channels, 7x7), run on 2x2 pixel blocks on the CPU.

    oneDNN computes output channels 16 at a time, so with 3 of them most of the work is
    padding; on blocks the same sums have 12 outputs (a 5x5 kernel over 4x the inputs)
    and take about 60% of the time. The block kernel is rebuilt per call: it is tiny.
    """
    if not fused_cpu(x):
        return conv(layer, x, activate=False)
    kernel, pad = block_kernel(layer.weight, BLOCK)
    y = torch.ops.mkldnn._convolution_pointwise(to_blocks(x, BLOCK), kernel, layer.bias.repeat(BLOCK * BLOCK),
                                                [pad, pad], [1, 1], [1, 1], 1, "none", [], None)
    return from_blocks(y, BLOCK)


class ResBlock(nn.Module):
    """conv-LReLU-conv plus identity; the official graph has no activation after the add."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv(self.conv2, conv(self.conv1, x), residual=x)


class TTN(nn.Module):
    """The DCT-Net generator plus its in-graph guided filter.

    ``forward`` takes raw BGR in 0..255 (float, NCHW) and returns the guided-filter
    output in about [-1, 1], i.e. the graph's float result before clip and cast; use
    :func:`to_uint8` for the official 8-bit image. ``channels`` is 32 for the official
    models; narrower generators (``toon-lite``) use the same layout.
    """

    def __init__(self, channels: int = DEFAULT_CHANNELS) -> None:
        super().__init__()
        c = channels
        self.channels = channels
        self.Conv = nn.Conv2d(3, c, 7, padding=3)
        self.Conv_1 = nn.Conv2d(c, c, 3, stride=2)
        self.Conv_2 = nn.Conv2d(c, 2 * c, 3, padding=1)
        self.Conv_3 = nn.Conv2d(2 * c, 2 * c, 3, stride=2)
        self.Conv_4 = nn.Conv2d(2 * c, 4 * c, 3, padding=1)
        for i in range(RESIDUAL_BLOCKS):
            self.add_module(f"block_{i}", ResBlock(4 * c))
        self.Conv_5 = nn.Conv2d(4 * c, 2 * c, 3, padding=1)
        self.Conv_6 = nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.Conv_7 = nn.Conv2d(2 * c, c, 3, padding=1)
        self.Conv_8 = nn.Conv2d(c, c, 3, padding=1)
        self.Conv_9 = nn.Conv2d(c, 3, 7, padding=3)

    def generator(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net body on the normalised input (no guided filter)."""
        x0 = conv(self.Conv, x)
        x1 = conv(self.Conv_2, conv(self.Conv_1, tf_same_pad(x0, 3, 2)))
        h = conv(self.Conv_4, conv(self.Conv_3, tf_same_pad(x1, 3, 2)))
        for i in range(RESIDUAL_BLOCKS):
            h = getattr(self, f"block_{i}")(h)
        h = upsample2x_tf1(conv(self.Conv_5, h)) + x1
        h = upsample2x_tf1(conv(self.Conv_7, conv(self.Conv_6, h))) + x0
        return to_rgb(self.Conv_9, conv(self.Conv_8, h))

    def forward(self, bgr: torch.Tensor) -> torch.Tensor:
        h, w = bgr.shape[-2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(f"TTN input must be a multiple of {SIZE_MULTIPLE} in H and W, got {h}x{w}")
        x = bgr / 127.5 - 1.0
        if fused_cpu(x):  # oneDNN's fast kernels want NHWC; a no-op for frames from numpy HWC
            x = x.contiguous(memory_format=torch.channels_last)
        return guided_filter(x, self.generator(x))


def to_uint8(y: torch.Tensor) -> torch.Tensor:
    """The graph's tail: clip to +-0.999999, scale to 0..255, truncate (so 0..254)."""
    return ((y.clamp(-CLIP_LIMIT, CLIP_LIMIT) + 1.0) * 127.5).to(torch.uint8)


# -- the official files' names and layouts, onto this network's state dict ----------------
STATE_DTYPES = (torch.float16, torch.float32)
WEIGHT_LAYOUTS = {"pb": ("weights", (3, 2, 0, 1)), "tflite": ("Conv2D", (0, 3, 1, 2))}
"""Per file kind: the leaf name of a conv's weights and the permutation to OIHW.

A ``.pb`` stores HWIO ``generator/<layer>/weights``. The reference ``.tflite`` files
store OHWI ``generator/<layer>/Conv2D`` in fp16 (their fp32 ``...Conv2D1`` twins are
dequantized copies made at run time, so exact names only)."""


def official_state_dict(tensors: dict[str, np.ndarray], kind: str) -> dict[str, torch.Tensor]:
    """Map ``generator/<layer>/{weights|Conv2D,biases}`` onto TTN's keys (OIHW, float32).

    ``kind`` is ``"pb"`` or ``"tflite"``; the result is checked against a TTN of the
    width the file's first conv implies, so a loadable dict comes back or WeightsError.
    """
    if kind not in WEIGHT_LAYOUTS:
        raise ValueError(f"kind must be 'pb' or 'tflite', not {kind!r}")
    weight_leaf, axes = WEIGHT_LAYOUTS[kind]
    state: dict[str, torch.Tensor] = {}
    for name, array in tensors.items():
        prefix, _, rest = name.partition("/")
        layer, _, leaf = rest.rpartition("/")
        if prefix != "generator" or not layer or leaf not in (weight_leaf, "biases"):
            continue
        if leaf == weight_leaf:
            if array.ndim != 4:
                raise WeightsError(f"{name} has shape {array.shape}, expected a 4-D convolution kernel")
            key, array = f"{layer.replace('/', '.')}.weight", array.transpose(axes)
        else:
            key = f"{layer.replace('/', '.')}.bias"
        state[key] = torch.from_numpy(np.ascontiguousarray(array, np.float32))
    check_state_dict(state, "the model file")
    return state


@functools.lru_cache(maxsize=8)
def expected_shapes(channels: int) -> dict[str, tuple[int, ...]]:
    """TTN(channels)'s tensor shapes, built on the meta device so nothing is allocated."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in TTN(channels).state_dict().items()}


def names(keys: list[str]) -> str:
    """A short list for a message: the first few keys and how many there are."""
    shown = ", ".join(keys[:4])
    return f"{len(keys)} ({shown}{', ...' if len(keys) > 4 else ''})"


def check_state_dict(state: dict[str, torch.Tensor], what: str) -> int:
    """Check keys, shapes, dtypes and finiteness against a TTN; return its channel count."""
    first = state.get("Conv.weight")
    if first is None:
        raise WeightsError(f"{what} holds no DCT-Net generator (no first convolution Conv.weight)")
    if first.ndim != 4 or tuple(first.shape[1:]) != (3, 7, 7) or first.shape[0] < 1:
        raise WeightsError(f"{what}: Conv.weight has shape {tuple(first.shape)}, expected (channels, 3, 7, 7)")
    channels = int(first.shape[0])
    expected = expected_shapes(channels)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        found = (("missing", missing), ("unexpected", unexpected))
        problems = [f"{label} {names(keys)}" for label, keys in found if keys]
        raise WeightsError(f"{what} does not match a {channels}-channel DCT-Net generator: {'; '.join(problems)}")
    for key, shape in expected.items():
        tensor = state[key]
        if tuple(tensor.shape) != shape:
            raise WeightsError(f"{what}: {key} has shape {tuple(tensor.shape)}, expected {shape}")
        if tensor.dtype not in STATE_DTYPES:
            raise WeightsError(f"{what}: {key} is {tensor.dtype}, expected float16 or float32")
        if not torch.isfinite(tensor).all():
            raise WeightsError(f"{what}: {key} holds NaN or infinite values")
    return channels
