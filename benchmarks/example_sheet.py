"""Before/after sheets for the README: ``python -m benchmarks.example_sheet OUT.png [--photo-dir DIR]``.

Inputs are the openly licensed training and held-out photos of ``dctnet.train_photos``
(by default three never trained on and one that was), run through the full pipeline
(bg pass + aligned head pass) with the built-in styles, the teacher (``toon-filter``)
first. Only the project's own styles are used, so the sheet may be committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from app.files.image_out import write_image
from dctnet.engine import Stylizer
from faces.finder import FaceDetector
from dctnet.styles import FILTER_STYLE, StyleRegistry
from dctnet.train_photos import load_photos

PHOTOS = ("biden2.jpg", "two_people.jpg", "coffee.png", "astronaut.png")
ROW_HEIGHT = 300


def to_row_height(image: np.ndarray) -> np.ndarray:
    scale = ROW_HEIGHT / image.shape[0]
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--styles", default=f"{FILTER_STYLE},toon,toon-lite")
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument("--photo-dir", type=Path, help="a folder holding the downloadable photos (offline machines)")
    args = parser.parse_args()
    names = tuple(args.photos.split(","))
    held_out = load_photos(True, names, args.photo_dir)
    photos = {**load_photos(False, names, args.photo_dir), **held_out}
    registry = StyleRegistry()
    stylizers = {}
    for name in args.styles.split(","):
        stylizers[name] = Stylizer.from_style(registry.get(name), device="auto")
    rows = []
    with FaceDetector(static_image_mode=True) as detector:
        for photo_name in names:
            photo = photos[photo_name]
            faces = detector.detect(photo)
            cells = {f"photo{'' if photo_name in held_out else ' (trained on)'}": photo}
            cells |= {name: s.stylize(photo, faces) for name, s in stylizers.items()}
            rows.append(np.hstack([label(to_row_height(image), title) for title, image in cells.items()]))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    write_image(args.output, sheet)
    print(f"wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
