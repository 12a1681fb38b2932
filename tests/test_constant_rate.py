"""A recording has a constant frame rate (issue 27, 3): each tick of its pacer writes one
frame, a tick missed while the encoder or the machine was slow is written late with the
newest frame repeated, and its timestamps are exact multiples of the period when a real
PyAV decoder reads the file back. The pacer runs on its own clock here, so this is the
pacer's decision alone whatever the test machine's load (the wall-clock rates under a
busy CPU are ``python -m benchmarks.pacing --load``'s)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np

from app.live.record import RecordSink
from app.live.settings import OutputSettings
from app.live.sinks import CONSTANT_RATE, MISSED_AT_CLOSE_SECONDS, FramePacer, PacerTiming

FPS = 30
SECONDS = 2.0
LATE_EVERY, LATE_BY = 7, 0.25
"""Every 7th sleep wakes 250 ms late (7.5 periods): a busy core or a slow encoder."""


class LateWakingTime:
    """A pacer's clock that stands still until ``go``, then moves on at each sleep, every
    :data:`LATE_EVERY`-th one waking :data:`LATE_BY` late while ``late_while(now)`` (by
    default the first second, which leaves time to catch up); the sleep that crosses
    ``horizon`` moves the clock on too, and there the pacer's thread waits for the test to
    close it."""

    def __init__(self, horizon: float, late_while: Callable[[float], bool] = lambda now: now < 1.0) -> None:
        self.now, self.horizon, self.sleeps, self.late_while = 0.0, horizon, 0, late_while
        self.go, self.reached = threading.Event(), threading.Event()

    def clock(self) -> float:
        self.go.wait()
        return self.now

    def sleep(self, stop: threading.Event, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds + (LATE_BY if self.sleeps % LATE_EVERY == 0 and self.late_while(self.now) else 0.0)
        if self.now >= self.horizon:
            self.reached.set()
            stop.wait()


def ticks_until(horizon: float, fps: float) -> int:
    """Ticks at 0, 1/fps, ... before ``horizon``."""
    return int(np.ceil(horizon * fps - 1e-9))


def test_a_pacer_that_repeats_missed_ticks_emits_one_frame_per_tick():
    time = LateWakingTime(SECONDS)
    emitted: list[float] = []
    pacer = FramePacer(lambda frame: emitted.append(time.now), 64, 36, FPS, timing=PacerTiming(time.clock, time.sleep),
                       catch_up=CONSTANT_RATE)
    time.go.set()
    assert time.reached.wait(30), "the pacer never reached the end of its time"
    pacer.close()
    assert len(emitted) == ticks_until(SECONDS, FPS), "late ticks are emitted, not skipped"
    assert np.diff(emitted).max() >= LATE_BY, "the clock did wake late"


def test_a_recording_made_while_slow_has_one_frame_per_tick_at_exact_30_fps(tmp_path):
    time = LateWakingTime(SECONDS)
    sink = RecordSink(tmp_path / "cfr.mp4", OutputSettings(320, 180, FPS), timing=PacerTiming(time.clock, time.sleep))
    picture = np.zeros((180, 320, 3), np.uint8)
    picture[:, :160] = 200
    sink.submit(picture)
    time.go.set()
    assert time.reached.wait(60), "the recording's pacer never reached the end of its time"
    sink.close()
    assert sink.saved is not None, sink.status
    with av.open(str(sink.saved)) as container:
        video = container.streams.video[0]
        stamps = [frame.pts * video.time_base for frame in container.decode(video)]
        assert video.average_rate == FPS
    assert len(stamps) == ticks_until(SECONDS, FPS) == sink.frames, "one frame per tick, none skipped"
    assert stamps == [Fraction(i, FPS) for i in range(len(stamps))], "pts = tick index at exactly 30 fps"



def test_a_recording_that_is_behind_when_closed_still_lasts_as_long_as_it_was_on():
    """Late wakes until the very end: the ticks still missed at the close are written then."""
    time = LateWakingTime(SECONDS, late_while=lambda now: True)
    emitted: list[float] = []
    pacer = FramePacer(lambda frame: emitted.append(time.now), 64, 36, FPS, timing=PacerTiming(time.clock, time.sleep),
                       catch_up=CONSTANT_RATE)
    time.go.set()
    assert time.reached.wait(30), "the pacer never reached the end of its time"
    closed_at = time.now
    pacer.close()
    assert closed_at > SECONDS + 1 / FPS, "the last wake was late, past the horizon"
    assert len(emitted) == ticks_until(closed_at - 0.5 / FPS, FPS), "every tick up to the close, none skipped"


def test_writing_the_missed_ticks_at_the_close_is_bounded_so_the_recording_still_finishes():
    """An encoder that takes a second a frame at the close: missed ticks are written for at
    most MISSED_AT_CLOSE_SECONDS, not until the recording's finishing time runs out (then
    nothing would be kept)."""
    time = LateWakingTime(SECONDS, late_while=lambda now: True)
    emitted: list[float] = []
    closing = threading.Event()

    def output(frame: np.ndarray) -> None:
        emitted.append(time.now)
        if closing.is_set():
            time.now += 1.0

    pacer = FramePacer(output, 64, 36, FPS, timing=PacerTiming(time.clock, time.sleep), catch_up=CONSTANT_RATE)
    time.go.set()
    assert time.reached.wait(30)
    before_close, missed = len(emitted), ticks_until(time.now - 0.5 / FPS, FPS) - len(emitted)
    closing.set()
    assert pacer.close(10)
    assert missed > MISSED_AT_CLOSE_SECONDS, "more ticks were missed than the close may write"
    assert len(emitted) - before_close == MISSED_AT_CLOSE_SECONDS, "one a second for 5 s, then the close ends"
