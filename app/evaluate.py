"""``livetoon eval-temporal``: how much a converted video flickers, and how faithful it is.

Prints the warping error (Lai et al. 2018, x1000; lower is steadier) of the output
and of the input itself (the floor a perfect method would approach), and, given a
reference such as the per-frame (``--stability 0``) conversion, the fidelity PSNR.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from flow.metrics import fidelity_psnr, warping_error

from .video_in import VideoReader


def images(path: Path) -> Iterator[np.ndarray]:
    with VideoReader(path) as reader:
        for frame in reader:
            yield frame.image


def run(args: argparse.Namespace) -> int:
    output_error = warping_error(images(args.input), images(args.output))
    input_error = warping_error(images(args.input), images(args.input))
    print(f"warping error (x1000): output {output_error:.3f}, input {input_error:.3f}")
    if args.reference:
        reference_error = warping_error(images(args.input), images(args.reference))
        fidelity = fidelity_psnr(images(args.output), images(args.reference))
        ratio = output_error / reference_error if reference_error else float("nan")
        print(f"reference warping error (x1000): {reference_error:.3f}; output/reference ratio {ratio:.3f}")
        print(f"fidelity PSNR output vs reference: {fidelity:.2f} dB")
    return 0
