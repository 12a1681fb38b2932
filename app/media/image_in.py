"""Still images in, with one clear message for every way a file can be bad."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

from common.errors import LiveToonError
from common.fileio import read_input_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
MAX_IMAGE_PIXELS = 150_000_000
"""The largest picture read: 150 megapixels (a 108-MP phone photo passes; BGR, 450 MB).
Above it, one line instead of GBs of memory or OpenCV's own traceback."""


def check_pixel_count(path: Path, data: bytes) -> None:
    """Refuse a picture above :data:`MAX_IMAGE_PIXELS` from its header, before decoding it.

    A decompression bomb (a 200 KB PNG of 33000x33000 pixels) would otherwise take GBs
    of memory, or fail inside OpenCV with a traceback. Pillow reads only the header
    here; a file it cannot identify is left to OpenCV, which says whether it decodes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
        try:
            with PIL.Image.open(io.BytesIO(data)) as header:
                width, height = header.size
        except PIL.Image.DecompressionBombError:
            width = height = None  # Pillow's own ceiling is above ours
        except (PIL.UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return
    if width is None or width * height > MAX_IMAGE_PIXELS:
        size = "" if width is None else f" ({width}x{height})"
        raise LiveToonError(f"{path}: too many pixels{size}; pictures up to {MAX_IMAGE_PIXELS // 1_000_000} "
                            f"megapixels are read (a decompression bomb, or scale it down first)")


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 BGR (EXIF orientation applied, alpha dropped)."""
    data = read_input_bytes(path)
    check_pixel_count(path, data)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None:
        raise LiveToonError(f"{path}: not an image or corrupt (cannot decode it)")
    return image
