"""The frame that travels between sources, the pipeline and sinks.

Kept apart from ``video_in`` (PyAV) so the pipeline can run where PyAV is not
installed: the GPU benchmark machine's image has no PyAV, and
``benchmarks.gpu_checks`` drives the real pipeline there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: ``pts`` is in the reader's ``time_base``, ``time`` in seconds."""

    image: np.ndarray  # uint8 HxWx3 BGR, upright
    pts: int
    time: float
    index: int
