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


def person_boxes(coarse: np.ndarray, frame_hw: tuple[int, int], pad: int, bands: int) -> list[Box]:
    """The person's area in frame pixels as up to ``bands`` boxes stacked top to bottom
    (disjoint rows), each as wide as the person is within ``pad`` rows of it, grown by
    ``pad`` pixels and clipped to the frame; empty when the matte holds no person.

    A head-and-shoulders figure is narrow at the top and wide below: two boxes cover it
    with less area than one (on carphone at 720p, 0.56 of the frame instead of 0.65,
    the bg pass's extra rows included).
    """
    ys, xs = np.nonzero(coarse > BOX_LEVEL)
    if len(ys) == 0:
        return []
    sh, sw = coarse.shape
    fh, fw = frame_hw
    sx, sy = fw / sw, fh / sh
    x_at, y_at = xs * sx, ys * sy  # small-grid pixel corners in frame pixels
    top, bottom = max(0, int(y_at.min()) - pad), min(fh, int(np.ceil(y_at.max() + sy)) + pad)
    edges = np.linspace(top, bottom, bands + 1).round().astype(int)
    boxes = []
    for y0, y1 in zip(edges[:-1], edges[1:]):
        near = (y_at + sy > y0 - pad) & (y_at < y1 + pad)
        if y1 > y0 and near.any():
            x0, x1 = max(0, int(x_at[near].min()) - pad), min(fw, int(np.ceil(x_at[near].max() + sx)) + pad)
            boxes.append((x0, int(y0), x1, int(y1)))
    return boxes
