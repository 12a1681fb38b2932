"""Still images in and out, with one clear message for every way a file can be bad."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dctnet.errors import LiveToonError
from dctnet.fileio import atomic_write_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 BGR (EXIF orientation applied, alpha dropped)."""
    path = Path(path)
    if not path.exists():
        raise LiveToonError(f"{path}: no such file")
    if path.is_dir():
        raise LiveToonError(f"{path}: is a folder, not an image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LiveToonError(f"{path}: cannot read ({exc.strerror})") from exc
    if not data:
        raise LiveToonError(f"{path}: empty file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise LiveToonError(f"{path}: not an image or corrupt (cannot decode it)")
    return image


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode by the file's suffix and write atomically (never a half-written file)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise LiveToonError(f"{path}: unsupported output type {suffix or '(none)'}; use one of {', '.join(IMAGE_SUFFIXES)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, image, params)
    if not ok:
        raise LiveToonError(f"{path}: could not encode the image as {suffix}")
    atomic_write_bytes(path, encoded.tobytes())


def expand_image_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given; folders replaced by the images directly inside them, sorted.

    Missing inputs fail here, before any model is loaded.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            images = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise LiveToonError(f"{item}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            found += images
        elif not item.exists():
            raise LiveToonError(f"{item}: no such file")
        else:
            found.append(item)
    return found


def plan_outputs(inputs: list[Path], output: Path, many: bool) -> list[Path]:
    """Map inputs to output paths. ``many`` (several inputs or a folder) means OUT is a folder.

    One input with an image-suffixed OUT that is not an existing folder writes that file;
    otherwise each input keeps its name inside the OUT folder. An output that would
    overwrite its own input is refused.
    """
    output = Path(output)
    single_file = not many and output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir()
    if single_file:
        pairs = [(inputs[0], output)]
    else:
        if output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir():
            raise LiveToonError(f"{output}: several inputs need an output folder, not a file name")
        pairs = [(src, output / (src.stem + (src.suffix.lower() if src.suffix.lower() in IMAGE_SUFFIXES else ".png"))) for src in inputs]
    for src, dst in pairs:
        if src.exists() and dst.exists() and src.resolve() == dst.resolve():
            raise LiveToonError(f"{dst}: output would overwrite its own input; choose another -o")
    return [dst for _, dst in pairs]


def ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LiveToonError(f"cannot create output folder {folder}: {exc.strerror}") from exc
