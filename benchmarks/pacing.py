"""Real-time rates of the live outputs: ``python -m benchmarks.pacing``

The unit tests check the pacer's schedule on its own clock (``tests/test_sinks.py``) and
that a stream arrives intact; these are the wall-clock numbers they used to assert, on a
machine shared with nothing else they mean something:

- a ``FramePacer`` at 30 fps through a source that stalls for a second: the median
  interval (bar: within 20% of the period) and the largest gap (bar: under 3 periods,
  100 ms);
- an MPEG-TS stream to a real reader on this machine: submit-to-decoded latency
  (bar: median under 1 s);
- ``--load [--runs N]``: the stream and a recording both on at 1280x720 (issue 27, 3),
  opened through the registry into one :class:`SinkSet` (so they share its encoder), with
  ``BUSY`` processes spinning beside them: the stream's decoded rate and its largest
  timestamp hole (bar: >= 29 fps, no hole over 2 periods) and the recording read back
  (bar: exactly 30 fps, one frame per tick, no gap over 1 period), the stream's latency
  (submitted to decoded) and this process's CPU time; with ``--runs`` N runs, their
  medians and how many met each bar. ``--separate``: each output with its own encoder
  (the requests without the SinkSet's encoders), for comparison.

The load average is printed beside the numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av

import numpy as np
from skimage import data

from app.live.outputs import RECORD, STREAM, OutputRequest, open_output
from app.live.settings import OutputSettings
from app.live.sink_set import SinkSet
from app.live.sinks import FramePacer, letterbox
from app.live.stream import StreamSink
from tests.test_sinks import FPS, H, PERIOD, W, Recorder, listening_reader, read_stamp, stamp, with_bar


def pacer_through_a_stall(picture: np.ndarray) -> dict:
    out = Recorder()
    pacer = FramePacer(out, 320, 180, fps=FPS)
    try:
        for i in range(5):
            pacer.submit(with_bar(picture, 40 * i))
            time.sleep(PERIOD)
        stalled_from = len(out.times)
        time.sleep(1.0)
        gaps = np.diff(out.times[stalled_from:])
    finally:
        pacer.close()
    return {"frames_in_1s_stall": len(gaps) + 1, "median_interval_ms": round(float(np.median(gaps)) * 1e3, 2),
            "largest_gap_ms": round(float(gaps.max()) * 1e3, 2),
            "meets_bar": bool(abs(np.median(gaps) - PERIOD) <= 0.2 * PERIOD and gaps.max() < 3 * PERIOD)}


def stream_latency(picture: np.ndarray) -> dict:
    reader = listening_reader()
    boxed = letterbox(picture, W, H)
    sent: dict[int, float] = {}
    with StreamSink(f"udp://127.0.0.1:{reader.port}", OutputSettings(W, H, FPS)) as sink:
        for number in range(1, round(5.0 * FPS)):
            sink.submit(stamp(with_bar(boxed, (number * 8) % (W - 16)), number))
            sent[number] = time.monotonic()
            time.sleep(PERIOD)
        done = time.monotonic()
    reader.join(15)
    first_seen: dict[int, float] = {}
    for seen_at, _, image in reader.frames:
        first_seen.setdefault(read_stamp(image), seen_at)
    live = [first_seen[n] - sent[n] for n in sorted(set(first_seen) & set(sent)) if first_seen[n] < done]
    median = float(np.median(live)) if live else float("inf")
    return {"frames_matched": len(live), "median_latency_ms": round(median * 1e3, 1),
            "p90_latency_ms": round(float(np.percentile(live, 90)) * 1e3, 1) if live else None,
            "meets_bar": median < 1.0}


BUSY = 2
"""Spinning processes beside the outputs under ``--load``, as the model-yield measurement had."""
LOAD_W, LOAD_H = 1280, 720


def rate_and_holes(pts_seconds: list[float]) -> dict:
    """Frames a second over the span of their timestamps, and the largest gap, in periods."""
    times = np.array(sorted(pts_seconds))
    gaps = np.diff(times)
    span = times[-1] - times[0] + PERIOD
    return {"frames": len(times), "fps": round(len(times) / span, 2),
            "largest_gap_periods": round(float(gaps.max()) / PERIOD, 2), "median_gap_ms": round(float(np.median(gaps)) * 1e3, 2)}


def outputs_under_load(picture: np.ndarray, seconds: float = 10.0, shared: bool = True) -> dict:
    """Both outputs on, fed a moving picture at 30 fps, ``BUSY`` spinning processes beside them;
    ``shared``: on the SinkSet's encoders (else each its own)."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BUSY)]
    try:
        reader = listening_reader()
        boxed = letterbox(picture, LOAD_W, LOAD_H)
        settings = OutputSettings(LOAD_W, LOAD_H, FPS)
        sinks = SinkSet()
        with tempfile.TemporaryDirectory() as folder:
            url, path = f"udp://127.0.0.1:{reader.port}", Path(folder) / "load.mp4"
            for name, target in ((STREAM, url), (RECORD, path)):
                sinks.set(name, open_output(name, OutputRequest(settings, target,
                                                                encoders=sinks.encoders if shared else None)))
            stream, record = sinks.get(STREAM), sinks.get(RECORD)
            encoders = len({stream.feed, record.feed})
            stop = threading.Event()
            submitted: dict[int, float] = {}
            cpu = time.process_time()

            def feed() -> None:
                number = 0
                while not stop.wait(PERIOD):
                    number += 1
                    sinks.submit(stamp(with_bar(boxed, (number * 8) % (LOAD_W - 16)), number))
                    submitted[number] = time.monotonic()

            feeder = threading.Thread(target=feed, name="feed", daemon=True)
            feeder.start()
            time.sleep(seconds)
            stop.set()
            feeder.join()
            sinks.close_all()
            cpu = time.process_time() - cpu
            # what the sender emitted: ticks it skipped show as pts it never used
            sent = {"frames": stream.frames, "pts_spanned": stream.last_pts + 1, "encoders": encoders,
                    "frames_encoded": stream.feed.encoded}
            with av.open(str(record.saved)) as container:
                video = container.streams.video[0]
                recorded = [float(frame.pts * video.time_base) for frame in container.decode(video)]
                rate = float(video.average_rate)
        reader.join(15)
        streamed = [float(frame.pts * frame.time_base) for _, frame, _ in reader.frames]
        first_seen: dict[int, float] = {}
        for seen_at, _, image in reader.frames:
            first_seen.setdefault(read_stamp(image), seen_at)
        latency = [first_seen[n] - submitted[n] for n in first_seen if n in submitted]
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return {"busy_processes": BUSY, "seconds": seconds, "cpu_seconds": round(cpu, 2),
            "stream": {**rate_and_holes(streamed), "latency_ms_p50_p90": [round(float(np.percentile(latency, q)) * 1e3)
                                                                        for q in (50, 90)]},
            "stream_sent": sent,
            "recording": {**rate_and_holes(recorded), "stream_rate": rate, "pacer_ticks": record.frames}}


def summary(runs: list[dict]) -> dict:
    """Medians over the runs, and how many met each bar."""
    fps = [run["stream"]["fps"] for run in runs]
    holes = [run["stream"]["largest_gap_periods"] for run in runs]
    recorded = [run["recording"] for run in runs]
    exact = [r["fps"] == FPS and r["largest_gap_periods"] <= 1.0 for r in recorded]
    return {"runs": len(runs), "cpu_seconds_median": float(np.median([run["cpu_seconds"] for run in runs])),
            "stream_latency_p50_ms_median": float(np.median([run["stream"]["latency_ms_p50_p90"][0] for run in runs])),
            "stream_fps_median": float(np.median(fps)), "stream_fps": fps,
            "stream_largest_hole_periods_median": float(np.median(holes)), "stream_largest_hole_periods": holes,
            "stream_met_bar": sum(f >= 29 and h <= 2 for f, h in zip(fps, holes)),
            "recording_exact_30fps": sum(exact), "recording_frames": [r["frames"] for r in recorded]}


def main() -> None:
    picture = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    load = os.getloadavg()[0]
    if "--load" in sys.argv[1:]:
        count = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 1
        runs = []
        for _ in range(count):
            load = os.getloadavg()[0]
            runs.append({"load_before": round(load, 1),
                         **outputs_under_load(picture, shared="--separate" not in sys.argv)})
            print(json.dumps(runs[-1]), flush=True)
        if count > 1:
            print(json.dumps(summary(runs), indent=1))
        return
    print(json.dumps({"load_before": round(load, 1), "pacer": pacer_through_a_stall(picture),
                      "stream": stream_latency(picture)}, indent=1))


if __name__ == "__main__":
    main()
