"""Time the flow stabilizer per frame: ``python -m benchmarks.stabilizer [--size 1280x720]``.

Feeds a real photo panning across the frame (scikit-image's astronaut, so the flow
has real texture to work on) with a flickering per-frame "cartoon", and prints the
median and p95 milliseconds the stabilizer adds per frame.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from flow.stabilize import DEFAULT_STRENGTH, Stabilizer
from tests.clips import photo_bgr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--threads", type=int, default=0, help="OpenCV threads (0 = OpenCV's default)")
    args = parser.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
    width, height = map(int, args.size.split("x"))
    big = cv2.resize(photo_bgr(), (2 * width, 2 * width))
    rng = np.random.default_rng(0)
    frames = []
    for t in range(30):
        frame = cv2.warpAffine(big, np.float32([[1, 0, -3.1 * t], [0, 1, -1.2 * t]]), (width, height))
        styled = np.clip(frame * rng.uniform(0.97, 1.03, 3), 0, 255).astype(np.uint8)
        frames.append((frame, styled))
    stabilizer = Stabilizer(DEFAULT_STRENGTH)
    times = []
    for k in range(args.frames):
        frame, styled = frames[k % len(frames)] if (k // len(frames)) % 2 == 0 else frames[-1 - k % len(frames)]
        started = time.perf_counter()
        stabilizer(frame, styled)
        times.append((time.perf_counter() - started) * 1000)
    times = np.array(times[5:])
    print(f"stabilizer at {width}x{height}: median {np.median(times):.2f} ms, p95 {np.percentile(times, 95):.2f} ms "
          f"over {len(times)} frames (cuts: {stabilizer.cuts})")


if __name__ == "__main__":
    main()
