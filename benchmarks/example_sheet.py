"""Before/after sheets for the README: ``python -m benchmarks.example_sheet OUT.png [--styles toon,toon-lite]``.

Inputs are scikit-image's bundled photos (astronaut: NASA, public domain; coffee and
chelsea: CC0), run through the full pipeline (bg pass + aligned head pass) with the
built-in styles. Only the project's own styles are used, so the sheet may be committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from app.images import write_image
from dctnet.engine import Stylizer
from dctnet.face import FaceDetector
from dctnet.styles import StyleRegistry

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png")
ROW_HEIGHT = 300


def load(name: str) -> np.ndarray:
    from skimage import data

    return cv2.imread(str(Path(data.__file__).parent / name), cv2.IMREAD_COLOR)


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--styles", default="toon,toon-lite")
    parser.add_argument("--photos", default=",".join(PHOTOS))
    args = parser.parse_args()
    registry = StyleRegistry()
    stylizers = {}
    for name in args.styles.split(","):
        stylizers[name] = Stylizer.from_style(registry.get(name), device="auto")
    rows = []
    with FaceDetector(static_image_mode=True) as detector:
        for photo_name in args.photos.split(","):
            photo = load(photo_name)
            faces = detector.detect(photo)
            cells = [label(photo, "photo")] + [label(s.stylize(photo, faces), name) for name, s in stylizers.items()]
            scale = ROW_HEIGHT / photo.shape[0]
            rows.append(np.hstack([cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for c in cells]))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    write_image(args.output, sheet)
    print(f"wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
