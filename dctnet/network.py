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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2
GUIDED_FILTER_EPS = 0.01
CLIP_LIMIT = 0.999999
RESIDUAL_BLOCKS = 4
DEFAULT_CHANNELS = 32
SIZE_MULTIPLE = 4
"""H and W must be multiples of this: two stride-2 levels feed skip additions."""


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
    input repeats at the edge). This is not ``F.interpolate(mode="bilinear")``.
    """
    n, c, h, w = x.shape
    below = torch.cat([x[:, :, 1:], x[:, :, -1:]], dim=2)
    x = torch.stack([x, (x + below) * 0.5], dim=3).reshape(n, c, 2 * h, w)
    right = torch.cat([x[:, :, :, 1:], x[:, :, :, -1:]], dim=3)
    return torch.stack([x, (x + right) * 0.5], dim=4).reshape(n, c, 2 * h, 2 * w)


def box_mean(x: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """3x3 mean over in-bounds pixels only (zero padding divided by the true count)."""
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


class ResBlock(nn.Module):
    """conv-LReLU-conv plus identity; the official graph has no activation after the add."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.leaky_relu(self.conv1(x), LEAKY_SLOPE)) + x


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

        def act(t: torch.Tensor) -> torch.Tensor:
            return F.leaky_relu(t, LEAKY_SLOPE)

        x0 = act(self.Conv(x))
        x1 = act(self.Conv_2(act(self.Conv_1(tf_same_pad(x0, 3, 2)))))
        h = act(self.Conv_4(act(self.Conv_3(tf_same_pad(x1, 3, 2)))))
        for i in range(RESIDUAL_BLOCKS):
            h = getattr(self, f"block_{i}")(h)
        h = act(self.Conv_5(h))
        h = upsample2x_tf1(h) + x1
        h = act(self.Conv_7(act(self.Conv_6(h))))
        h = upsample2x_tf1(h) + x0
        return self.Conv_9(act(self.Conv_8(h)))

    def forward(self, bgr: torch.Tensor) -> torch.Tensor:
        h, w = bgr.shape[-2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(f"TTN input must be a multiple of {SIZE_MULTIPLE} in H and W, got {h}x{w}")
        x = bgr / 127.5 - 1.0
        return guided_filter(x, self.generator(x))


def to_uint8(y: torch.Tensor) -> torch.Tensor:
    """The graph's tail: clip to +-0.999999, scale to 0..255, truncate (so 0..254)."""
    return ((y.clamp(-CLIP_LIMIT, CLIP_LIMIT) + 1.0) * 127.5).to(torch.uint8)
