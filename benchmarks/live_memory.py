"""Host memory over a long live run: ``python -m benchmarks.live_memory --minutes 30``.

Runs the real live session (looped head-and-shoulders clip as the camera, face
tracking, the chosen style, flow stabilization, the UDP stream sink) in this
process and samples its resident memory every ``--every`` seconds. The first
``--warmup`` seconds are excluded: allocators, MediaPipe and torch grow to their
working set there. What matters is the slope afterwards; a leak of even a few KB per
frame shows as a steady climb over half an hour.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from app.live.processor import LiveProcessor
from app.live.session import LiveSession
from app.live.sink_set import SinkSet
from app.live.settings import FileSpec, LiveSettings, OutputSettings
from app.live.stream import StreamSink
from app.process_setup import tune_for_frames
from benchmarks.talking_clip import head_motion_frames
from tests.clips import write_clip


def resident_mb() -> float:
    """This process's resident set, from /proc (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds excluded from the slope")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--style", default="toon-lite")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--json", type=Path, help="also write the samples here")
    args = parser.parse_args()
    tune_for_frames()  # as the livetoon program runs (app.process_setup)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "talking.mp4", images=head_motion_frames(150, width, height),
                          size=(width, height), rate=Fraction(30), audio=())
        processor = LiveProcessor(LiveSettings(style=args.style))
        sinks = SinkSet()
        sinks.set("stream", StreamSink("udp://127.0.0.1:9", OutputSettings()))  # discard port: encoded and sent, unread
        processed = [0]
        session = LiveSession(FileSpec(clip), processor, sinks,
                              on_frame=lambda _: processed.__setitem__(0, processed[0] + 1))
        runner = threading.Thread(target=session.run, name="live-run", daemon=True)
        started = time.perf_counter()
        runner.start()
        samples: list[tuple[float, float, int]] = []
        while (elapsed := time.perf_counter() - started) < args.minutes * 60:
            time.sleep(args.every)
            samples.append((elapsed, resident_mb(), processed[0]))
            print(f"{elapsed / 60:5.1f} min  RSS {samples[-1][1]:7.1f} MB  {processed[0]} frames", flush=True)
        session.stop()
        runner.join(5)
        sinks.close_all()
    steady = [(t, mb) for t, mb, _ in samples if t >= args.warmup]
    if len(steady) < 2:
        print("run longer than the warm-up to get a slope", file=sys.stderr)
        return 2
    t, mb = np.array(steady).T
    slope = float(np.polyfit(t / 60, mb, 1)[0])
    summary = {"minutes": args.minutes, "style": args.style, "size": args.size, "rss_after_warmup_mb": float(mb[0]),
               "rss_end_mb": float(mb[-1]), "rss_max_mb": float(mb.max()), "slope_mb_per_min": slope,
               "frames": samples[-1][2], "fps": samples[-1][2] / samples[-1][0]}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "samples": samples}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
