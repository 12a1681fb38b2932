"""Qt images as numpy arrays, so tests compare what is drawn pixel by pixel."""

from __future__ import annotations

import numpy as np
from PyQt6.QtGui import QImage


def rgb_array(image: QImage) -> np.ndarray:
    """``image`` as an (H, W, 3) RGB array, whatever its format (rows are padded in Qt)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8)
    return data.reshape(height, image.bytesPerLine())[:, : width * 3].reshape(height, width, 3)
