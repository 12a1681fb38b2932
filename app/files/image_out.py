"""Still images out (``livetoon image``), with one clear message for every way a path can be bad."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from common.errors import LiveToonError
from common.fileio import atomic_write_bytes

from app.files.output_safety import check_outputs
from app.media.image_in import IMAGE_SUFFIXES

ALPHA_SUFFIXES = (".png", ".webp", ".tif", ".tiff")
"""Image types that keep an alpha channel (OpenCV writes BGRA to these as RGBA files)."""


def check_alpha_outputs(outputs: list[Path]) -> None:
    """A transparent picture needs a file type with alpha: refused before any work, not dropped silently."""
    for path in outputs:
        if path.suffix.lower() not in ALPHA_SUFFIXES:
            raise LiveToonError(f"{path}: {path.suffix or 'this type'} cannot carry transparency; "
                                f"use one of {', '.join(ALPHA_SUFFIXES)}")


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode by the file's suffix and write atomically (never a half-written file).

    A 4-channel (BGRA) image keeps its alpha in the file (see :data:`ALPHA_SUFFIXES`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise LiveToonError(f"{path}: unsupported output type {suffix or '(none)'}; use one of {', '.join(IMAGE_SUFFIXES)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, image, params)
    if not ok:
        raise LiveToonError(f"{path}: could not encode the image as {suffix}")
    atomic_write_bytes(path, encoded.tobytes())


def plan_image_outputs(inputs: list[Path], output: Path, many: bool, alpha: bool = False,
                       also_read: Iterable[Path | None] = ()) -> list[Path]:
    """Map inputs to output paths. ``many`` (several inputs or a folder) means OUT is a folder.

    One input with an image-suffixed OUT that is not an existing folder writes that file;
    otherwise each input keeps its name inside the OUT folder, and its type unless the
    output needs ``alpha`` that the type cannot carry (a JPEG): then it is a ``.png``, as
    ``convert`` picks ``.webm``. An output that would overwrite an input (or a file in
    ``also_read``, such as the ``--background``), two inputs sharing one output name, and
    a new OUT whose suffix is no image type (``o.xyz``: a typo, not a folder name) are refused.
    """
    keeps = ALPHA_SUFFIXES if alpha else IMAGE_SUFFIXES
    output = Path(output)
    single_file = not many and output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir()
    if not many and output.suffix and not single_file and not output.is_dir():
        raise LiveToonError(f"{output}: cannot write {output.suffix} images; use one of {', '.join(IMAGE_SUFFIXES)}")
    if single_file:
        pairs = [(inputs[0], output)]
    else:
        if output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir():
            raise LiveToonError(f"{output}: several inputs need an output folder, not a file name")
        pairs = [(src, output / (src.stem + (src.suffix.lower() if src.suffix.lower() in keeps else ".png"))) for src in inputs]
    check_outputs(pairs, also_read)
    return [dst for _, dst in pairs]

