"""Does the first-run choice hold on a real clip? ``python -m benchmarks.first_run_fit --input CLIP``

The window's first run (and "Reset settings") times a few frames of candidate styles
and sizes and keeps the best look that is fast enough (``app.live.fitting_defaults``).
That timing uses a synthetic 720p frame and only a handful of frames, so this script
checks the promise a new streamer cares about: the chosen settings, run as the live
pipeline on a real 720p talking-head clip paced as a 30 fps camera, give a usable
output rate (the issue's bar: >= 5 fps). The clip comes from
``python -m benchmarks.keyframes --write-clip /tmp/talk720.mp4`` (carphone, 1280x720).
The load average is printed beside the numbers: on a shared CPU they mean nothing
without it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dctnet.styles import StyleRegistry

from app.live.fitting_defaults import fit_defaults
from app.process_setup import tune_for_frames

MODEL_FPS = "every"
"""The window's default: the model on every frame it can take, so the output rate is the model's."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="a 1280x720 talking-head clip")
    parser.add_argument("--seconds", type=float, default=24.0, help="length of the live run (4 s of it warm-up)")
    args = parser.parse_args()
    tune_for_frames()  # as the livetoon program runs (app.process_setup)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    fit = fit_defaults(StyleRegistry())
    fit_seconds = time.perf_counter() - started
    print(f"first-run choice (took {fit_seconds:.1f} s, load {load_before:.1f}): {fit.reason}", flush=True)
    bench = subprocess.run([str(Path(sys.executable).with_name("livetoon")), "bench", "--live", "--input", str(args.input),
                            "--style", fit.style, "--max-size", str(fit.max_size), "--device", "cpu",
                            "--model-fps", MODEL_FPS, "--seconds", str(args.seconds), "--json"],
                           check=True, stdout=subprocess.PIPE, text=True)
    live = json.loads(bench.stdout)
    print(json.dumps({"style": fit.style, "max_size": fit.max_size, "fit_seconds": round(fit_seconds, 1),
                      "load_before": round(load_before, 1), "live": live}, indent=1))


if __name__ == "__main__":
    main()
