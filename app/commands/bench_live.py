"""``livetoon bench --live``: the live pipeline on a looped clip, timed as a viewer sees it.

The clip plays as a camera (paced at its own timestamps, looped), through the same
``LiveSession`` as ``livetoon live``, with the model at ``--model-fps``. After a
warm-up (style loading, first keyframe) we count, over the rest of the run: the
output rate and its largest gap (in camera frame periods: a stall a viewer sees),
capture-to-output latency p50/p95, the model's rate, the share of output frames
that were propagated rather than stylized, and the model's share of the wall clock
(the sum of its run times over the run's length: what a capped model saves on a
GPU shared with a game). The load average is printed with it, because on a shared
CPU the numbers mean nothing without it.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import numpy as np

from common.errors import LiveToonError

from app.compositing import parse_background
from app.live.processor import LiveProcessor
from app.live.session import LiveSession
from app.live.settings import FileSpec, LiveSettings, parse_model_fps
from app.pipeline import Processed, StageTimes
from app.media.video_in import VideoReader

WARMUP_SECONDS = 4.0


class StampedTimes(StageTimes):
    """Stage times that also remember when each was added, so a run can be cut to a window."""

    def __init__(self) -> None:
        super().__init__()
        self.stamped: list[tuple[float, str, float]] = []

    def add(self, stage: str, seconds: float) -> None:
        super().add(stage, seconds)
        self.stamped.append((time.perf_counter(), stage, seconds))

    def within(self, stage: str, start: float) -> list[float]:
        """Milliseconds of ``stage`` samples added since ``start``."""
        return [seconds * 1000.0 for at, name, seconds in self.stamped if name == stage and at >= start]

    def busy(self, stage: str, start: float, end: float) -> float:
        """Seconds ``stage`` was running between ``start`` and ``end`` (runs cut to the window)."""
        return sum(max(0.0, min(at, end) - max(at - seconds, start)) for at, name, seconds in self.stamped if name == stage)


def run(args: argparse.Namespace, clip: Path, environment) -> dict:
    if args.seconds <= WARMUP_SECONDS:
        raise LiveToonError(f"--seconds must be more than the {WARMUP_SECONDS:g} s warm-up")
    with VideoReader(clip) as reader:
        camera_fps, size = float(reader.rate), (reader.width, reader.height)
    parse_background(args.background)  # a bad one fails before the model loads
    settings = LiveSettings(style=args.style, mode=args.mode, device=args.device, max_size=args.max_size,
                            model_fps=parse_model_fps(args.model_fps), background=args.background,
                            main_person_only=not args.everyone, stylize_background=args.stylize_background)
    times = StampedTimes()
    processor = LiveProcessor(settings, times=times)
    processor.apply_settings()
    emitted: list[tuple[float, float, bool]] = []  # (time out, latency, propagated)

    def on_frame(processed: Processed) -> None:
        now = time.perf_counter()
        emitted.append((now, now - processed.frame.time, processed.propagated))

    session = LiveSession(FileSpec(clip), processor, on_frame=on_frame)
    started = time.perf_counter()
    timer = threading.Timer(args.seconds, session.stop)
    timer.start()
    try:
        stats = session.run()
    finally:
        timer.cancel()
    window_start = started + WARMUP_SECONDS
    kept = [e for e in emitted if e[0] >= window_start]
    if len(kept) < 2:
        raise LiveToonError("no frames came out after the warm-up; try a longer --seconds")
    span = kept[-1][0] - kept[0][0]
    gaps = np.diff([e[0] for e in kept]) * camera_fps
    latencies = np.array([e[1] for e in kept]) * 1000.0
    model_ms, propagate_ms = times.within("model", window_start), times.within("propagate", window_start)
    carried_ms = [m + c for m, c in zip(times.within("carried matte", window_start),
                                        times.within("carried composite", window_start))]
    return {"environment": environment(processor.stylizer), "style": settings.style, "mode": settings.mode,
            "input": str(clip), "size": f"{size[0]}x{size[1]}", "camera_fps": round(camera_fps, 2),
            "model_fps_setting": settings.model_fps, "background": settings.background, "seconds": round(span, 1),
            "load_average": os.getloadavg(),
            "output_fps": round((len(kept) - 1) / span, 2),
            "max_gap_frame_periods": round(float(gaps.max()), 2),
            "gaps_over_3_periods": int((gaps > 3).sum()),
            "latency": {"median_ms": round(float(np.median(latencies)), 1),
                        "p95_ms": round(float(np.percentile(latencies, 95)), 1)},
            "model_fps": round(len(model_ms) / span, 2),
            "model_ms_median": round(float(np.median(model_ms)), 1) if model_ms else None,
            "model_share_of_wall": round(times.busy("model", kept[0][0], kept[-1][0]) / span, 3),
            "propagated_share": round(sum(e[2] for e in kept) / len(kept), 3),
            "propagate_ms_median": round(float(np.median(propagate_ms)), 1) if propagate_ms else None,
            "carried_matte_ms_median": round(float(np.median(carried_ms)), 1) if carried_ms else None,
            "dropped_by_model": stats.dropped}


def render(report: dict) -> str:
    env = report["environment"]
    load = ", ".join(f"{x:.2f}" for x in report["load_average"])
    return "\n".join([
        f"device: {env['device']} | {env['cpu']} | load average {load}",
        f"live: {report['input']} {report['size']} at {report['camera_fps']} fps, style {report['style']} "
        f"({report['mode']}), model fps {report['model_fps_setting']}, background {report['background']}, "
        f"{report['seconds']} s after warm-up",
        f"  output   {report['output_fps']:6.2f} fps, largest gap {report['max_gap_frame_periods']:.2f} frame periods "
        f"({report['gaps_over_3_periods']} gaps over 3)",
        f"  latency  capture->output p50 {report['latency']['median_ms']:.0f} ms, p95 {report['latency']['p95_ms']:.0f} ms",
        f"  model    {report['model_fps']:6.2f} fps ({report['model_ms_median']} ms a frame), "
        f"{report['model_share_of_wall']:.1%} of the wall clock",
        f"  propagated share {report['propagated_share']:.1%} (propagate {report['propagate_ms_median']} ms a frame"
        + (f"; matte + composite of each output frame {report['carried_matte_ms_median']} ms"
           if report["carried_matte_ms_median"] is not None else "") + ")",
    ])
