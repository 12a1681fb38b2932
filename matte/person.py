"""Which parts of a matte are "the person", and the box the person occupies.

"Main person only" keeps the connected region of the coarse matte that holds the
tracked main face, so a passer-by or a poster behind the streamer stays background;
"everyone" keeps every region. Regions are found on the small grid, where a
connected-components pass is cheap, and applied as a mask on the soft matte, so
the kept person's soft edge is untouched.
"""

from __future__ import annotations

import cv2
import numpy as np

PERSON_LEVEL = 0.5
"""Coarse matte value above which a small-grid pixel belongs to a region."""
BOX_LEVEL = 0.1
"""Coarse matte value above which a small-grid pixel counts for the person's box (soft edges included)."""
KEEP_MARGIN = 2
"""Small-grid pixels a kept region is grown by, so its soft fringe (below PERSON_LEVEL) stays."""

Box = tuple[int, int, int, int]
"""x0, y0, x1, y1 in pixels, x1/y1 exclusive."""


def main_person_only(coarse: np.ndarray, anchor: tuple[float, float] | None) -> np.ndarray:
    """``coarse`` with every region but the one at ``anchor`` (small-grid x, y) set to 0.

    Without an anchor (no face tracked) the largest region is the person. An anchor
    off every region (a face at the matte's edge) takes the region nearest to it.
    """
    regions = (coarse > PERSON_LEVEL).astype(np.uint8)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(regions, connectivity=8)
    if count <= 2:  # nothing, or one region: nothing to drop
        return coarse
    if anchor is None:
        keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    else:
        x = min(max(int(anchor[0]), 0), coarse.shape[1] - 1)
        y = min(max(int(anchor[1]), 0), coarse.shape[0] - 1)
        keep = int(labels[y, x])
        if keep == 0:
            keep = 1 + int(np.argmin(np.hypot(*(centroids[1:] - (x, y)).T)))
    kept = (labels == keep).astype(np.uint8)
    kept = cv2.dilate(kept, np.ones((2 * KEEP_MARGIN + 1,) * 2, np.uint8))
    return coarse * kept.astype(np.float32)


def person_pixels(coarse: np.ndarray) -> np.ndarray:
    """Small-grid pixels above BOX_LEVEL that belong to a region with a sure core (above
    PERSON_LEVEL): a soft speck on its own is no person. One pixel at 0.106 in the top
    corner of carphone's picture stretched the head box to twice its width in 4 frames of 10."""
    count, labels = cv2.connectedComponents((coarse > BOX_LEVEL).astype(np.uint8), connectivity=8)
    cored = np.zeros(count, bool)
    cored[labels[coarse > PERSON_LEVEL]] = True
    cored[0] = False
    return cored[labels]


def person_boxes(coarse: np.ndarray, frame_hw: tuple[int, int], pad: int, seam_rows: int) -> list[Box]:
    """The person's area in frame pixels as one box or two stacked top to bottom (disjoint
    rows), each as wide as the person is within ``pad`` rows of it, grown by ``pad`` pixels
    and clipped to the frame; empty when the matte holds no person.

    A head-and-shoulders figure is narrow at the top and wide below, so two boxes cover it
    with less area than one. The cut is the row that makes the area least, each box
    counted ``seam_rows`` taller for the rows the bg pass computes past the seam and
    drops. On carphone at 720p the least-area cut made the bg pass's work 0.531 of the
    frame's pixels where a cut at half height made 0.569 (pad 32); three boxes at their
    best cuts were no better (docs/compositing.md, "Cost").
    """
    ys, xs = np.nonzero(person_pixels(coarse))
    if len(ys) == 0:
        return []
    sh, sw = coarse.shape
    fh, fw = frame_hw
    sx, sy = fw / sw, fh / sh
    # Per small-grid row, the person's leftmost and rightmost pixel edges in frame pixels
    # (none: +inf / -inf), and the same over all rows above (prefix) and below (suffix).
    left, right = np.full(sh, np.inf), np.full(sh, -np.inf)
    rows, starts = np.unique(ys, return_index=True)  # np.nonzero lists pixels row by row
    left[rows] = np.minimum.reduceat(xs, starts) * sx
    right[rows] = (np.maximum.reduceat(xs, starts) + 1) * sx
    row_top = np.arange(sh) * sy
    top, bottom = max(0, int(ys.min() * sy) - pad), min(fh, int(np.ceil((ys.max() + 1) * sy)) + pad)

    def box(y0: int, y1: int) -> Box:
        near = (row_top + sy > y0 - pad) & (row_top < y1 + pad)
        return (max(0, int(left[near].min()) - pad), y0, min(fw, int(np.ceil(right[near].max())) + pad), y1)

    whole = box(top, bottom)
    cuts = np.unique(np.round(row_top[ys.min() + 1:ys.max() + 1]).astype(int))
    cuts = cuts[(cuts > top) & (cuts < bottom)]
    if len(cuts) == 0:
        return [whole]
    above = np.searchsorted(row_top, cuts + pad) - 1  # the last row near the upper box
    below = np.searchsorted(row_top + sy, cuts - pad, side="right")  # the first row near the lower box

    def width(lefts: np.ndarray, rights: np.ndarray) -> np.ndarray:
        return np.minimum(fw, rights + pad) - np.maximum(0, lefts - pad)

    upper = width(np.minimum.accumulate(left)[above], np.maximum.accumulate(right)[above])
    lower = width(np.minimum.accumulate(left[::-1])[::-1][below], np.maximum.accumulate(right[::-1])[::-1][below])
    areas = upper * (cuts - top + seam_rows) + lower * (bottom - cuts + seam_rows)
    best = int(np.argmin(areas))
    if areas[best] >= (whole[2] - whole[0]) * (bottom - top):
        return [whole]
    return [box(top, int(cuts[best])), box(int(cuts[best]), bottom)]
