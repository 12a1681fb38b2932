"""Where the bg pass runs when it is limited to the person's boxes.

A box must come out as a whole-frame pass gives it (within 1 level, 12 px in from
its borders; ``tests/test_compositing.py``), at the least work. So each box runs on a
window cut from the frame *as the whole-frame pass pads it* (``frame_ops.pad_frame``):

* where the box meets the frame's edge, the window reaches the padded frame's edge,
  so the padding there (white, replicated or the context margin) is the whole pass's own;
* where it meets another box (stacked boxes: a seam inside the person), the window
  takes :data:`CROP_HALO` more real rows, computed and dropped, so the two meet
  without a seam;
* anywhere else the window takes :data:`OUTER_MARGIN` more real pixels: that border lies
  in the background, which the compositor covers.

Corners are moved out to multiples of :data:`~dctnet.network.SIZE_MULTIPLE` (4: the
model's two stride-2 levels), so every window samples the same grid as the whole pass.
Before, each box was padded on its own like a small frame (8 replicated pixels on every
side for context-padded styles), grown by the halo above and below whatever lay there,
and moved out to 16 px: on carphone at 720p that was 0.606 of the frame's pixels against
0.569 now, with the same boxes (docs/compositing.md, "Cost").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import SIZE_MULTIPLE

Box = tuple[int, int, int, int]
"""x0, y0, x1, y1 in pixels, x1/y1 exclusive."""
CROP_HALO = 20
"""Rows a box's window reaches past a seam, computed and dropped, so stacked boxes meet
without a seam: with 20, the rows on both sides of the seam are within 1 level of a
whole-frame pass; with 16, one pixel of the test scene was 2 levels off."""
OUTER_MARGIN = 8
"""Real pixels a window takes past a box's other borders (not at the frame's edge, not a
seam). On the test scene, with 8 the box's output is within 1 level of a whole-frame
pass from 12 px in, and within 1-2 levels 8 px in; with 4, also within 1 from 12 px in
but 2-3 levels off 8 px in; with none, 2 levels off at a few pixels 16 px in. 8 costs
0.01 of the frame's pixels more than 4 (carphone, 720p). Boxes grow 24 px past the
coarse matte (``matte.stage.BOX_PAD``), which the alpha reaches past by 12 px where it
is 16/255 or more: the composite is within 1 level of one over a whole-frame pass (tested)."""
PACK_LIMIT = 1.1
"""At most this many times the windows' pixels in one canvas. On carphone pillarboxed at
720p a canvas held 1.06 times the windows' pixels on average. With carphone filling the
frame it held 1.19, 0.12 of the frame's pixels more: about what the second call cost at
load 5, and more than it costs on a quieter CPU."""


def grid_box(region: Box, scale: float, work_hw: tuple[int, int]) -> Box | None:
    """``region`` (frame pixels) in the processed image's pixels, its corners moved out to
    multiples of :data:`SIZE_MULTIPLE` and clipped; None if empty."""
    h, w = work_hw
    x0, y0, x1, y1 = (v * scale for v in region)
    x0, y0 = int(x0) // SIZE_MULTIPLE * SIZE_MULTIPLE, int(y0) // SIZE_MULTIPLE * SIZE_MULTIPLE
    x1 = min(w, -(-int(np.ceil(x1)) // SIZE_MULTIPLE) * SIZE_MULTIPLE)
    y1 = min(h, -(-int(np.ceil(y1)) // SIZE_MULTIPLE) * SIZE_MULTIPLE)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


@dataclass(frozen=True)
class Window:
    """One box's bg pass: the padded frame's ``rows`` and ``cols`` go in, ``box`` comes out."""

    rows: slice
    cols: slice
    box: Box
    offset: tuple[int, int]
    """Where the box starts inside the window's output (row, column)."""

    @property
    def target(self) -> tuple[slice, slice]:
        """The box's rows and columns in the frame."""
        x0, y0, x1, y1 = self.box
        return slice(y0, y1), slice(x0, x1)

    @property
    def height(self) -> int:
        return self.rows.stop - self.rows.start

    @property
    def width(self) -> int:
        return self.cols.stop - self.cols.start


@dataclass(frozen=True)
class Place:
    """Where a window lies in a canvas the model runs on."""

    window: Window
    row: int
    col: int

    @property
    def source(self) -> tuple[slice, slice]:
        """The window's rows and columns in the canvas."""
        return slice(self.row, self.row + self.window.height), slice(self.col, self.col + self.window.width)

    @property
    def inner(self) -> tuple[slice, slice]:
        """The box's pixels in the canvas's output."""
        target_rows, target_cols = self.window.target
        row, col = self.row + self.window.offset[0], self.col + self.window.offset[1]
        return (slice(row, row + target_rows.stop - target_rows.start),
                slice(col, col + target_cols.stop - target_cols.start))


@dataclass(frozen=True)
class Canvas:
    """One model call: windows side by side in a (height, width) picture, zeros between."""

    size: tuple[int, int]
    places: list[Place]


def crop_windows(boxes: list[Box], frame_hw: tuple[int, int], padding: tuple[int, int, int, int]) -> list[Window]:
    """The window of each box (grid-aligned, frame pixels) in the frame padded by
    ``padding`` = (top, bottom, left, right), as :func:`~dctnet.frame_ops.frame_padding` gives it."""
    h, w = frame_hw
    top, bottom, left, right = padding
    windows = []
    for x0, y0, x1, y1 in boxes:
        seam_above = any(o[1] < y0 <= o[3] for o in boxes)
        seam_below = any(o[1] <= y1 < o[3] for o in boxes)
        r0 = 0 if y0 == 0 else max(0, y0 + top - (CROP_HALO if seam_above else OUTER_MARGIN))
        r1 = h + top + bottom if y1 == h else min(h + top + bottom, y1 + top + (CROP_HALO if seam_below else OUTER_MARGIN))
        c0 = 0 if x0 == 0 else max(0, x0 + left - OUTER_MARGIN)
        c1 = w + left + right if x1 == w else min(w + left + right, x1 + left + OUTER_MARGIN)
        windows.append(Window(slice(r0, r1), slice(c0, c1), (x0, y0, x1, y1), (y0 + top - r0, x0 + left - c0)))
    return windows


def canvases(windows: list[Window], padded_hw: tuple[int, int]) -> list[Canvas]:
    """The windows side by side in one canvas, so the model runs once: each call costs
    the same per-layer start-up and thread hand-offs whatever its size, and with two
    threads on a busy 2-core CPU two windows took 2.45 s where one canvas holding both
    (8% more pixels) took 2.0 s (docs/compositing.md, "Cost").

    A window that reaches the padded frame's edge must keep the model's own border
    there, so it goes to the same edge of the canvas: the one touching the left edge
    first, the one touching the right edge last, each at the top or the bottom as it
    touches. Where that cannot be (two windows on one side edge, or a window across the
    whole width), or where the canvas would hold more than :data:`PACK_LIMIT` times the
    windows' pixels (windows of very different heights), each window is its own canvas.
    """
    h, w = padded_hw
    on_left = [win for win in windows if win.cols.start == 0]
    on_right = [win for win in windows if win.cols.stop == w]
    across = any(win.cols.start == 0 and win.cols.stop == w for win in windows)
    if len(windows) < 2 or len(on_left) > 1 or len(on_right) > 1 or across:
        return [Canvas((win.height, win.width), [Place(win, 0, 0)]) for win in windows]
    middle = [win for win in windows if win not in on_left and win not in on_right]
    height = max(win.height for win in windows)
    places, col = [], 0
    for win in on_left + middle + on_right:
        places.append(Place(win, height - win.height if win.rows.stop == h and win.rows.start > 0 else 0, col))
        col += win.width
    if height * col > PACK_LIMIT * sum(win.height * win.width for win in windows):
        return [Canvas((win.height, win.width), [Place(win, 0, 0)]) for win in windows]
    return [Canvas((height, col), places)]
