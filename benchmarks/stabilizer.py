"""Time the flow stabilizer per frame: ``python -m benchmarks.stabilizer [--size 1280x720] [--against main]``.

Feeds a real photo panning across the frame (scikit-image's astronaut, so the flow
has real texture to work on) with a flickering per-frame "cartoon", and prints the
median and p95 milliseconds the stabilizer adds per frame: the live (one-sided)
one, and the two-sided one of ``livetoon convert`` with its two flows. The two-sided
one walks back over a block of frames every :data:`flow.two_sided.BLOCK` frames, so
its cost per frame is the mean (each frame's share), not the median of bursty calls.

``--against REV`` also times the stabilizer of git revision ``REV`` (its ``flow/``
package, loaded from git into a temporary folder) in the same run, frame by frame
in alternation, so both see the same load on a shared machine; the ratio of the
medians is the comparison to trust, more than either absolute number.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from flow.estimate import SequenceFlow
from flow.stabilize import DEFAULT_STABILITY, Stabilizer
from flow.two_sided import FILE_STABILITY, TwoSidedStabilizer

FRAME_INTERVAL = 1001 / 30000


def stabilizer_at(revision: str, folder: Path) -> Callable:
    """The ``Stabilizer`` class of ``flow/`` at git ``revision``, imported as package ``flow_<rev>``."""
    package = folder / f"flow_{abs(hash(revision))}"
    package.mkdir()
    names = subprocess.run(["git", "ls-tree", "--name-only", revision, "flow/"], capture_output=True, text=True,
                           check=True).stdout.split()
    for name in names:
        source = subprocess.run(["git", "show", f"{revision}:{name}"], capture_output=True, text=True, check=True).stdout
        (package / Path(name).name).write_text(source)
    sys.path.insert(0, str(folder))
    return importlib.import_module(f"{package.name}.stabilize").Stabilizer


def panning_pairs(width: int, height: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from skimage import data  # the photo only; no PyAV needed, so it also runs on a bare GPU image

    big = cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (2 * width, 2 * width))
    rng = np.random.default_rng(0)
    frames = []
    for t in range(30):
        frame = cv2.warpAffine(big, np.float32([[1, 0, -3.1 * t], [0, 1, -1.2 * t]]), (width, height))
        styled = np.clip(frame * rng.uniform(0.97, 1.03, 3), 0, 255).astype(np.uint8)
        frames.append((frame, styled))
    return frames


class LiveStabilizer:
    """The live stabilizer with the one flow it needs, called with bare frames: in the chain
    ``FrameProcessor`` estimates the motion once for every stage, so it belongs to the
    stabilizer's cost only here, where the stabilizer is all that runs (and in the tests)."""

    def __init__(self, stability: float = DEFAULT_STABILITY) -> None:
        self.inner = Stabilizer(stability)
        self.motion = SequenceFlow(both_ways=False)

    @property
    def cuts(self) -> int:
        return self.inner.cuts

    def __call__(self, frame: np.ndarray, styled: np.ndarray, time: float | None = None) -> np.ndarray:
        return self.inner.step(self.motion(frame), styled, time)


class FileStabilizer:
    """``convert``'s two-sided stabilizer with the flows it needs, called as the live one is."""

    def __init__(self) -> None:
        self.inner = TwoSidedStabilizer(FILE_STABILITY)
        self.motion = SequenceFlow(both_ways=True)

    @property
    def cuts(self) -> int:
        return self.inner.cuts

    def __call__(self, frame: np.ndarray, styled: np.ndarray, time: float) -> None:
        self.inner.push(self.motion(frame), styled, time, None)


def call(stabilizer: Callable, frame: np.ndarray, styled: np.ndarray, when: float) -> np.ndarray:
    """One frame; a stabilizer from before timestamps existed is called without one."""
    if "time" in inspect.signature(stabilizer).parameters:
        return stabilizer(frame, styled, when)
    return stabilizer(frame, styled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--threads", type=int, default=0, help="OpenCV threads (0 = OpenCV's default)")
    parser.add_argument("--against", metavar="REV", help="also time the stabilizer of this git revision")
    args = parser.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
    width, height = map(int, args.size.split("x"))
    frames = panning_pairs(width, height)
    with tempfile.TemporaryDirectory() as folder:
        stabilizers = {"this tree": LiveStabilizer(DEFAULT_STABILITY), "this tree, files (two-sided)": FileStabilizer()}
        if args.against:
            stabilizers[args.against] = stabilizer_at(args.against, Path(folder))(DEFAULT_STABILITY)
        times: dict[str, list[float]] = {name: [] for name in stabilizers}
        for k in range(args.frames):
            forward = (k // len(frames)) % 2 == 0
            frame, styled = frames[k % len(frames)] if forward else frames[-1 - k % len(frames)]
            for name, stabilizer in stabilizers.items():
                started = time.perf_counter()
                call(stabilizer, frame, styled, k * FRAME_INTERVAL)
                times[name].append((time.perf_counter() - started) * 1000)
    medians = {}
    for name, samples in times.items():
        kept = np.array(samples[5:])
        medians[name] = float(np.median(kept))
        print(f"stabilizer ({name}) at {width}x{height}: median {medians[name]:.2f} ms, mean {kept.mean():.2f} ms, "
              f"p95 {np.percentile(kept, 95):.2f} ms over {len(kept)} frames (cuts: {stabilizers[name].cuts})")
    if args.against:
        print(f"ratio this tree / {args.against}: {medians['this tree'] / medians[args.against]:.2f}")


if __name__ == "__main__":
    main()
