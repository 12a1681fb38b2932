"""Real-time rates of the live outputs: ``python -m benchmarks.pacing``

The unit tests check the pacer's schedule on its own clock (``tests/test_sinks.py``) and
that a stream arrives intact; these are the wall-clock numbers they used to assert, on a
machine shared with nothing else they mean something:

- a ``FramePacer`` at 30 fps through a source that stalls for a second: the median
  interval (bar: within 20% of the period) and the largest gap (bar: under 3 periods,
  100 ms);
- an MPEG-TS stream to a real reader on this machine: submit-to-decoded latency
  (bar: median under 1 s).

The load average is printed beside the numbers.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from skimage import data

from app.live.settings import OutputSettings
from app.live.sinks import FramePacer, StreamSink, letterbox
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


def main() -> None:
    picture = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    load = os.getloadavg()[0]
    print(json.dumps({"load_before": round(load, 1), "pacer": pacer_through_a_stall(picture),
                      "stream": stream_latency(picture)}, indent=1))


if __name__ == "__main__":
    main()
