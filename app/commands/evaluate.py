"""``livetoon eval-temporal``: how much a converted video flickers, and how faithful it is.

Prints the warping error (Lai et al. 2018, x1000; lower is steadier) of the output
and of the input itself (the floor a perfect method would approach), and, given a
reference such as the per-frame (``--stability 0``) conversion, the fidelity PSNR.

The videos must be the same size (a conversion keeps its input's size; anything
else is not a conversion of that input). Different frame counts are scored over the
common frames, and the result says so: a partial conversion is still measurable, but
a number that silently covers half the film would mislead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from common.errors import LiveToonError
from flow.metrics import fidelity_psnr, warping_error

from app.media.video_in import VideoReader


class FrameCount:
    """One video's frames, counted as they are scored (decoding is the only exact count)."""

    def __init__(self, path: Path) -> None:
        self.path, self.frames = path, 0
        self._images = self._decode()

    def _decode(self) -> Iterator[np.ndarray]:
        with VideoReader(self.path) as reader:
            for frame in reader:
                self.frames += 1
                yield frame.image

    def images(self) -> Iterator[np.ndarray]:
        return self._images

    def finish(self) -> int:
        """Decode what scoring left (it stops at the shorter video); returns the frame count."""
        for _ in self._images:
            pass
        return self.frames


def check_same_size(paths: list[Path]) -> None:
    sizes = {}
    for path in paths:
        with VideoReader(path) as reader:
            sizes[path] = (reader.width, reader.height)
    first = paths[0]
    for path in paths[1:]:
        if sizes[path] != sizes[first]:
            (w, h), (fw, fh) = sizes[path], sizes[first]
            raise LiveToonError(f"{path} is {w}x{h} but {first} is {fw}x{fh}: "
                                f"eval-temporal compares a conversion with its own input")


def warn_unequal_lengths(counts: list[FrameCount]) -> None:
    lengths = {count.path: count.finish() for count in counts}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{path} {frames}" for path, frames in lengths.items())
        print(f"livetoon: warning: the videos differ in length ({listed} frames); "
              f"scored over the first {min(lengths.values())}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    paths = [args.input, args.output] + ([args.reference] if args.reference else [])
    check_same_size(paths)
    source, output = FrameCount(args.input), FrameCount(args.output)
    output_error = warping_error(source.images(), output.images())
    counts = [source, output]
    input_error = warping_error(FrameCount(args.input).images(), FrameCount(args.input).images())
    print(f"warping error (x1000): output {output_error:.3f}, input {input_error:.3f}")
    if args.reference:
        reference = FrameCount(args.reference)
        reference_error = warping_error(FrameCount(args.input).images(), reference.images())
        counts.append(reference)
        fidelity = fidelity_psnr(FrameCount(args.output).images(), FrameCount(args.reference).images())
        ratio = output_error / reference_error if reference_error else float("nan")
        print(f"reference warping error (x1000): {reference_error:.3f}; output/reference ratio {ratio:.3f}")
        print(f"fidelity PSNR output vs reference: {fidelity:.2f} dB")
    warn_unequal_lengths(counts)
    return 0
