"""Side-by-side model time of styles on the CPU: ``python -m benchmarks.style_speed [--styles toon,toon-lite]``.

Runs each style's bg model on the same 720x720 frame, alternating styles every
repetition so both see the same machine load, and prints medians and their ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dctnet.engine import Stylizer
from dctnet.styles import StyleRegistry
from app.process_setup import tune_for_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--styles", default="toon,toon-lite")
    parser.add_argument("--size", type=int, default=720)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    tune_for_frames()  # as the livetoon program runs (app.process_setup)
    names = args.styles.split(",")
    registry = StyleRegistry()
    stylizers = {n: Stylizer.from_style(registry.get(n), device="cpu", mode="background") for n in names}
    frame = np.random.default_rng(0).integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    times: dict[str, list[float]] = {n: [] for n in names}
    for repeat in range(args.repeats + 2):
        for name, stylizer in stylizers.items():
            started = time.perf_counter()
            stylizer.stylize(frame)
            if repeat >= 2:  # warm-up
                times[name].append((time.perf_counter() - started) * 1000)
    medians = {n: float(np.median(t)) for n, t in times.items()}
    for name, median in medians.items():
        print(f"{name:12s} bg pass {args.size}x{args.size}: median {median:7.1f} ms")
    if len(names) == 2:
        print(f"ratio {names[0]}/{names[1]}: {medians[names[0]] / medians[names[1]]:.2f}x")


if __name__ == "__main__":
    main()
