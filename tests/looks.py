"""Measures of a cartoon look shared by the teacher's and the CLI's tests."""

from __future__ import annotations

import cv2
import numpy as np


def median_texture(bgr: np.ndarray) -> float:
    """Median local (5x5) standard deviation of the gray image: photos have texture
    everywhere, flat cartoon regions have almost none."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    variance = cv2.blur(gray * gray, (5, 5)) - cv2.blur(gray, (5, 5)) ** 2
    return float(np.median(np.sqrt(np.maximum(variance, 0))))
