"""Write a head-and-shoulders test clip: ``python -m benchmarks.talking_clip OUT.mp4``.

A real portrait (scikit-image's astronaut, NASA, public domain) moved the way a
streamer's head moves in front of a webcam: slow sway, nod, a little zoom and tilt,
with sensor noise, 30000/1001 fps and an AAC track. The motion is synthetic, the
face and its texture are real; it stands in for a recorded talking head, which the
project may not ship.
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from tests.clips import photo_bgr, write_clip


def head_motion_frames(frames: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    photo = photo_bgr()
    scale = height / 400
    out = []
    for i in range(frames):
        t = i / 30
        angle = 3.0 * math.sin(2 * math.pi * 0.31 * t)
        zoom = scale * (1.0 + 0.04 * math.sin(2 * math.pi * 0.13 * t))
        matrix = cv2.getRotationMatrix2D((256, 200), angle, zoom)
        matrix[:, 2] += (width / 2 - 256 + 14 * math.sin(2 * math.pi * 0.23 * t), height / 2 - 200 + 6 * math.sin(2 * math.pi * 0.47 * t))
        frame = cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        noisy = frame.astype(np.float32) + rng.normal(0, 2.0, frame.shape)
        out.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", default="640x360")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    rate = Fraction(30000, 1001)
    frames = round(args.seconds * float(rate))
    write_clip(args.output, size=(width, height), rate=rate, images=head_motion_frames(frames, width, height))
    print(f"wrote {args.output}: {frames} frames, {width}x{height}")


if __name__ == "__main__":
    main()
