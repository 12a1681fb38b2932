"""Does a keyframe's cartoon cover the person on the frames it is carried to?

With a background and keyframes, a keyframe's bg pass runs only on the person's
boxes (its own matte, grown by ``pad`` px); outside them its "cartoon" is the camera
picture. Each later frame is cut out with its *own* matte, while the cartoon under
it is the keyframe's carried along the motion. Where the person has moved past the
carried boxes, the cut-out shows camera picture, not cartoon.

This measures it without the model: per frame, the share of its own matte (alpha
weighted) that falls outside the keyframe's boxes carried to it by the live
propagation's own flow, for several paddings and keyframe intervals, and what each
padding costs the bg pass (what the model runs on for the boxes: their windows of the
padded frame, packed as the Stylizer packs them, as a share of the frame).

    python -m benchmarks.keyframe_cutout --input /tmp/talk720.mp4 --frames 240
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from app.media.video_in import VideoReader
from app.process_setup import tune_for_frames
from dctnet.crop_windows import canvases, crop_windows, grid_box
from dctnet.frame_ops import frame_padding
from matte.segment import SelfieSegmenter
from flow.estimate import DEFAULT_MAX_SIDE, SequenceFlow
from flow.propagate import Fill, Propagator
from matte.person import person_boxes
from matte.stage import BOX_PAD, BOX_SEAM_ROWS, PersonMatte


def box_mask(boxes: list[tuple[int, int, int, int]], hw: tuple[int, int]) -> np.ndarray:
    mask = np.zeros((*hw, 3), np.uint8)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = 255
    return mask


def bg_pass_share(boxes: list[tuple[int, int, int, int]], hw: tuple[int, int]) -> float:
    """What the model runs on for ``boxes`` (a style padded with context, as LiveToon's are), share of the frame."""
    h, w = hw
    top, bottom, left, right = padding = frame_padding(h, w, "context")
    windows = crop_windows([box for box in (grid_box(b, 1.0, hw) for b in boxes) if box], hw, padding)
    return sum(c.size[0] * c.size[1] for c in canvases(windows, (h + top + bottom, w + left + right))) / (h * w)


def measure(frames: list[np.ndarray], pads: list[int], intervals: list[int], fps: float) -> list[dict]:
    hw = frames[0].shape[:2]
    motion = SequenceFlow(DEFAULT_MAX_SIDE, both_ways=False)
    with SelfieSegmenter() as segmenter:
        matte = PersonMatte(segmenter)
        mattes = [matte(f, motion(f), None, i / fps) for i, f in enumerate(frames)]
    rows = []
    for pad in pads:
        boxes = [person_boxes(m.coarse, hw, pad, BOX_SEAM_ROWS) for m in mattes]
        for every in intervals:
            carry = Propagator(Fill.NONE)
            uncovered = []
            for i, (frame, m) in enumerate(zip(frames, mattes)):
                if i % every == 0:
                    carry.set_keyframe(frame, box_mask(boxes[i], hw))
                    continue
                covered = carry(frame).image[..., 0].astype(np.float32) / 255.0
                alpha = m.alpha.astype(np.float32) / 255.0
                uncovered.append(float((alpha * (1.0 - covered)).sum() / max(alpha.sum(), 1.0)))
            keys = range(0, len(frames), every)
            rows.append({"pad": pad, "every": every, "uncovered_mean": float(np.mean(uncovered)),
                         "uncovered_p95": float(np.percentile(uncovered, 95)), "uncovered_max": float(np.max(uncovered)),
                         "bg_pass_share": float(np.mean([bg_pass_share(boxes[k], hw) for k in keys]))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--pads", default=f"{BOX_PAD},64,96,128")
    parser.add_argument("--intervals", default="6,12,24,48")
    args = parser.parse_args()
    tune_for_frames()
    with VideoReader(args.input) as reader:
        fps = float(reader.rate)
        frames = [f.image for f, _ in zip(reader, range(args.frames))]
    rows = measure(frames, [int(p) for p in args.pads.split(",")], [int(n) for n in args.intervals.split(",")], fps)
    print(f"{args.input}: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}, load {os.getloadavg()[0]:.1f}")
    print("| pad px | keyframe every | person outside the carried boxes: mean / p95 / worst | bg pass area |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['pad']} | {r['every']} | {r['uncovered_mean']:.2%} / {r['uncovered_p95']:.2%} / "
              f"{r['uncovered_max']:.2%} | {r['bg_pass_share']:.2f} |")


if __name__ == "__main__":
    main()
