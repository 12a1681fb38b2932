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


def person_box(coarse: np.ndarray, frame_hw: tuple[int, int], pad: int) -> Box | None:
    """The person's box in frame pixels, grown by ``pad`` pixels on every side and
    clipped to the frame; None when the matte holds no person."""
    points = cv2.findNonZero((coarse > BOX_LEVEL).astype(np.uint8))
    if points is None:
        return None
    x, y, w, h = cv2.boundingRect(points)
    sh, sw = coarse.shape
    fh, fw = frame_hw
    sx, sy = fw / sw, fh / sh
    x0, y0 = max(0, int(x * sx) - pad), max(0, int(y * sy) - pad)
    x1, y1 = min(fw, int(np.ceil((x + w) * sx)) + pad), min(fh, int(np.ceil((y + h) * sy)) + pad)
    return x0, y0, x1, y1
