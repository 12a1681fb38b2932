"""Outputs for other programs, with real components only: letterboxing, steady pacing
through a stalling source, the lost slate, the virtual camera's fix-it message (and a
real v4l2loopback device where one exists), and an MPEG-TS/UDP stream received and
decoded by a real PyAV reader on another thread."""

from __future__ import annotations

import errno
import platform
import socket
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.live.sinks import virtual_camera_fix
from app.live.settings import OutputSettings
from app.live.sinks import (FramePacer, PacerTiming, VirtualCameraSink, letterbox, lost_slate, next_tick,
                            stream_target)
from app.live.stream import StreamSink
from common.errors import LiveToonError
from tests.udp import free_udp_port

FPS = 30
PERIOD = 1 / FPS


def with_bar(image: np.ndarray, position: int) -> np.ndarray:
    """A recognisable frame: the picture with a coloured bar at ``position`` (pixels from the left)."""
    out = image.copy()
    out[:, position:position + 16] = (0, 200, 255)
    return out


@pytest.mark.parametrize("shape", [(512, 256), (256, 512), (720, 1280)], ids=["portrait", "landscape", "16:9-down"])
def test_letterbox_keeps_aspect_with_black_bars(shape, astronaut_bgr):
    frame = cv2.resize(astronaut_bgr, shape[::-1])
    boxed = letterbox(frame, 640, 360)
    assert boxed.shape == (360, 640, 3)
    h, w = shape
    scale = min(640 / w, 360 / h)
    inner_w, inner_h = round(w * scale), round(h * scale)
    x, y = (640 - inner_w) // 2, (360 - inner_h) // 2
    assert boxed[:y].max(initial=0) == 0 and boxed[y + inner_h:].max(initial=0) == 0, "bars above/below are black"
    assert boxed[:, :x].max(initial=0) == 0 and boxed[:, x + inner_w:].max(initial=0) == 0, "bars left/right are black"
    back = cv2.resize(boxed[y:y + inner_h, x:x + inner_w], (w, h), interpolation=cv2.INTER_LINEAR)
    assert cv2.PSNR(back, frame) > 22, "the picture itself is kept, only scaled"


class Recorder:
    """The pacer's output: a real function that keeps what it was given, and when."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.frames: list[np.ndarray] = []

    def __call__(self, frame: np.ndarray) -> None:
        self.times.append(time.monotonic())
        self.frames.append(frame)


class PacerTime:
    """A pacer's own clock for a test: a sleep moves it on at once, and so does an output that
    "takes" time; at ``horizon`` the pacer's thread waits there for the test to close it. So
    the schedule is the pacer's decision alone, whatever the machine's load (the real-time
    rate is measured by ``python -m benchmarks.pacing``)."""

    def __init__(self, horizon: float) -> None:
        self.now, self.horizon = 0.0, horizon
        self.reached = threading.Event()

    def clock(self) -> float:
        return self.now

    def sleep(self, stop: threading.Event, seconds: float) -> None:
        if self.now + seconds >= self.horizon:
            self.reached.set()
            stop.wait()
            return
        self.now += seconds


def paced(fps: float, seconds: float, output_takes=lambda call: 0.0, catch_up: float | None = None) -> list[float]:
    """The times (on the pacer's clock) of each frame a pacer emits over ``seconds``, the
    ``call``-th output taking ``output_takes(call)`` seconds (``catch_up``: the pacer's)."""
    clock = PacerTime(seconds)
    times: list[float] = []

    def output(frame: np.ndarray) -> None:
        times.append(clock.now)
        clock.now += output_takes(len(times))

    pacer = FramePacer(output, 64, 36, fps=fps, timing=PacerTiming(clock.clock, clock.sleep), catch_up=catch_up)
    assert clock.reached.wait(30), "the pacer never reached the end of its time"
    pacer.close()
    return times


def test_next_tick_is_one_period_on_or_skips_what_was_missed():
    assert next_tick(1.0, 1.01, 0.1, 0.1) == pytest.approx(1.1), "on time: one period on"
    assert next_tick(1.0, 1.15, 0.1, 0.1) == pytest.approx(1.1), "less than a period late: that tick, at once"
    assert next_tick(1.0, 1.45, 0.1, 0.1) == pytest.approx(1.4), "more: the missed ticks are skipped, no burst"
    assert next_tick(1.0, 1.45, 0.1, 0.5) == pytest.approx(1.1), "within its catch-up: each missed tick, late"
    assert next_tick(1.0, 1.75, 0.1, 0.5) == pytest.approx(1.7), "beyond it: skipped to the present"


def test_the_pacer_emits_on_its_grid_with_no_hole_and_no_burst_after_a_slow_output():
    steady = np.array(paced(FPS, 1.0))
    assert len(steady) in (FPS, FPS + 1), f"{len(steady)} frames in 1 s at {FPS} fps"
    assert np.allclose(np.diff(steady), PERIOD), "one frame each period"
    times = np.array(paced(FPS, 1.0, output_takes=lambda call: 0.25 if call == 10 else 0.0))  # the device hangs once
    gaps = np.diff(times)
    assert gaps.max() == pytest.approx(0.25), "the only hole is the output's own"
    assert gaps.min() >= PERIOD / 2 - 1e-9, f"no burst to catch up: {np.round(gaps * 1e3, 1).tolist()} ms"
    after = times[11:]
    on_grid = np.abs(after / PERIOD - np.round(after / PERIOD))
    assert len(after) >= 10 and on_grid[1:].max() < 1e-6, "back on the grid of ticks"


def test_a_pacer_that_may_catch_up_emits_each_tick_it_missed_late_not_skipped():
    """The stream's feed may be half a second behind: after a 0.25 s stall the missed ticks go
    out at once (their timestamps are the ticks, so a receiver sees no hole), then on time again."""
    times = np.array(paced(FPS, 1.0, output_takes=lambda call: 0.25 if call == 10 else 0.0, catch_up=0.5))
    assert len(times) in (FPS, FPS + 1), f"{len(times)} frames for {FPS} ticks: none skipped"
    gaps = np.diff(times)
    assert gaps.max() == pytest.approx(0.25) and (gaps[10:16] < 1e-9).all(), "the missed ticks at once, after the stall"
    on_grid = np.abs(times[17:] / PERIOD - np.round(times[17:] / PERIOD))
    assert on_grid.max() < 1e-6, "then back on the grid"


def test_pacer_repeats_the_last_frame_through_a_stalling_source(astronaut_bgr):
    out = Recorder()
    pacer = FramePacer(out, 320, 180, fps=FPS)
    try:
        frames = [with_bar(astronaut_bgr, 40 * i) for i in range(5)]
        for frame in frames:  # a source that delivers briefly...
            pacer.submit(frame)
            time.sleep(PERIOD)
        stalled_from = len(out.times)
        time.sleep(1.0)  # ...then stalls for a second
        stalled = out.frames[stalled_from:]
        last = letterbox(frames[-1], 320, 180)
        assert len(stalled) >= 2, "frames keep going out while the source stalls"
        assert all(np.array_equal(f, last) for f in stalled), "the last frame repeats"
        assert pacer.frames_out == len(out.frames)

        pacer.show_lost()
        time.sleep(0.2)
        slate = out.frames[-1]
        assert not np.array_equal(slate, last) and (slate > 200).sum() > 100, "light slate text on dark"
        pacer.submit(frames[0])
        time.sleep(0.2)
        assert np.array_equal(out.frames[-1], letterbox(frames[0], 320, 180)), "the next frame clears the slate"
    finally:
        started = time.monotonic()
        pacer.close()
        assert time.monotonic() - started < 1.0


def test_pacer_stops_on_a_failing_output_and_releases_it_on_its_thread():
    released_on: list[str] = []

    def broken(frame: np.ndarray) -> None:
        raise OSError("device unplugged\nwith a backend dump")

    pacer = FramePacer(broken, 64, 48, fps=FPS, release=lambda: released_on.append(threading.current_thread().name))
    deadline = time.monotonic() + 5
    while not released_on and time.monotonic() < deadline:
        time.sleep(0.01)
    pacer.close()
    assert pacer.error == "device unplugged" and pacer.frames_out == 0
    assert released_on == ["pacer"], "the device is released by the thread that used it"


def test_slate_says_camera_lost():
    slate = lost_slate(1280, 720)
    assert slate.shape == (720, 1280, 3) and (slate > 200).mean() > 0.002 and np.median(slate) == 32


def test_missing_virtual_camera_backend_gives_the_fix():
    try:
        VirtualCameraSink(OutputSettings(640, 360, FPS)).close()
    except LiveToonError as exc:
        message = str(exc)
    else:
        pytest.skip("a virtual camera backend exists here: the missing-backend path cannot be shown")
    assert virtual_camera_fix().prose in message, "the exact per-OS fix from `livetoon doctor`"
    if platform.system() == "Linux":
        assert "modprobe v4l2loopback" in message and "video group" in message


def test_frames_reach_a_real_v4l2loopback_device():
    try:
        sink = VirtualCameraSink(OutputSettings(640, 360, FPS))
    except LiveToonError as exc:
        pytest.skip(f"no virtual camera backend on this machine ({str(exc)[:80]}...)")
    orange = np.full((360, 640, 3), (0, 128, 255), np.uint8)
    with sink:
        if sink.camera.backend != "v4l2loopback":
            pytest.skip(f"reading back needs v4l2loopback, this is {sink.camera.backend}")
        sink.submit(orange)
        time.sleep(0.3)
        capture = cv2.VideoCapture(sink.camera.device, cv2.CAP_V4L2)
        frames = [capture.read() for _ in range(3)]
        capture.release()
        assert "v4l2loopback" in sink.status and "640x360" in sink.status
    ok, frame = frames[-1]
    assert ok and frame.shape[:2] == (360, 640)
    assert np.abs(frame.reshape(-1, 3).mean(0) - (0, 128, 255)).max() < 12, "the colour survives the device"


@pytest.mark.parametrize("url", ["rtmp://example.org/live", "udp://127.0.0.1", "127.0.0.1:9999",
                                 "udp://127.0.0.1:99999", "udp://127.0.0.1:port"])
def test_stream_url_must_be_udp_host_port(url):
    with pytest.raises(LiveToonError, match="udp://HOST:PORT"):
        StreamSink(url, OutputSettings(320, 240, FPS))


def test_stream_to_an_unknown_host_fails_at_once():
    with pytest.raises(LiveToonError, match="cannot stream to udp://no-such-host.invalid:9999"):
        StreamSink("udp://no-such-host.invalid:9999", OutputSettings(320, 240, FPS))


def test_stream_size_must_be_even():
    with pytest.raises(LiveToonError, match="even"):
        StreamSink("udp://127.0.0.1:9", OutputSettings(321, 240, FPS))


def test_stream_url_gets_ts_sized_packets():
    assert stream_target("udp://127.0.0.1:9999") == "udp://127.0.0.1:9999?pkt_size=1316"
    assert stream_target("udp://10.0.0.2:5000?ttl=4") == "udp://10.0.0.2:5000?ttl=4&pkt_size=1316"


# -- the stream, end to end ------------------------------------------------------------
W, H = 640, 360
BITS, BLOCK = 10, 32
"""The frame number, drawn as black/white blocks along the top edge: survives x264 easily."""


def stamp(image: np.ndarray, number: int) -> np.ndarray:
    out = image.copy()
    for bit in range(BITS):
        out[:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = 255 if number >> bit & 1 else 0
    return out


def read_stamp(image: np.ndarray) -> int:
    inset = BLOCK // 4
    cells = [image[inset:BLOCK - inset, bit * BLOCK + inset:(bit + 1) * BLOCK - inset] for bit in range(BITS)]
    return sum(1 << bit for bit, cell in enumerate(cells) if cell.mean() > 128)


def port_taken(port: int) -> bool:
    """Whether someone listens on ``port``, read from the kernel's socket tables.

    Probing by binding the port (as this once did) can hold it at the very moment FFmpeg
    binds it (without SO_REUSEADDR); FFmpeg then fails and the reader never listens: a
    test failure seen on a loaded machine.
    """
    tables = [Path("/proc/net/udp"), Path("/proc/net/udp6")]
    if not tables[0].exists():  # not Linux: the bind probe, racy as above
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                return exc.errno == errno.EADDRINUSE
        return False
    suffix = f":{port:04X}"
    return any(line.split()[1].endswith(suffix)
               for table in tables if table.exists() for line in table.read_text().splitlines()[1:])


class StreamReader(threading.Thread):
    """What OBS's Media Source does with "Network Buffering" 0: FFmpeg reads and decodes the TS."""

    def __init__(self, port: int, read_timeout: float = 1.0) -> None:
        """``read_timeout``: the silence after which the stream is over."""
        super().__init__(name="reader", daemon=True)
        self.port, self.read_timeout = port, read_timeout
        self.url = f"udp://127.0.0.1:{port}?overrun_nonfatal=1"
        self.frames: list[tuple[float, av.VideoFrame, np.ndarray]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        options = {"probesize": "32768", "analyzeduration": "0", "fflags": "nobuffer"}
        try:
            with av.open(self.url, format="mpegts", options=options, timeout=(15.0, self.read_timeout)) as container:
                for frame in container.decode(video=0):
                    self.frames.append((time.monotonic(), frame, frame.to_ndarray(format="bgr24")))
        except av.error.FFmpegError as exc:  # the read timeout after the sender stops ends the stream
            self.error = exc


def listening_reader(read_timeout: float = 1.0) -> StreamReader:
    """A StreamReader on a free port, started and bound: frames sent before it listens are lost."""
    port = free_udp_port()
    reader = StreamReader(port, read_timeout)
    reader.start()
    deadline = time.monotonic() + 10
    while not port_taken(port) and reader.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert port_taken(port), f"the reader never bound its port ({reader.error!r})"
    return reader


def test_stream_reaches_a_real_reader_intact(astronaut_bgr):
    """Frames arrive whole, in their colours, with a key frame each second (how fast they
    arrive is measured by ``python -m benchmarks.pacing``)."""
    reader = listening_reader()
    port = reader.port

    picture = letterbox(astronaut_bgr, W, H)
    sent: dict[int, tuple[float, np.ndarray]] = {}
    with StreamSink(f"udp://127.0.0.1:{port}", OutputSettings(W, H, FPS)) as sink:
        assert sink.status.startswith(f"stream: udp://127.0.0.1:{port}")
        for number in range(1, round(3.0 * FPS)):  # 3 s: the reader joins at a key frame, one a second
            frame = stamp(with_bar(picture, (number * 8) % (W - 16)), number)
            sink.submit(frame)
            sent[number] = (time.monotonic(), frame)
            time.sleep(PERIOD)
        sender_done = time.monotonic()
        frames_out = sink.frames
    reader.join(15)
    assert not reader.is_alive(), "the reader did not end after the stream stopped"
    assert reader.frames, f"nothing decoded ({reader.error!r}); {frames_out} frames sent"

    first_seen: dict[int, tuple[float, np.ndarray]] = {}
    for seen_at, frame, image in reader.frames:
        assert (frame.width, frame.height) == (W, H)
        first_seen.setdefault(read_stamp(image), (seen_at, image))
    matched = sorted(set(first_seen) & set(sent))
    assert len(matched) >= 20, f"only {len(matched)} distinct frames recognised of {len(sent)}"

    psnr = [cv2.PSNR(first_seen[n][1], sent[n][1]) for n in matched]
    colour_error = max(np.abs(first_seen[n][1].mean((0, 1)) - sent[n][1].mean((0, 1))).max() for n in matched)
    assert min(psnr) > 30 and colour_error < 4, f"PSNR {min(psnr):.1f} dB, mean colour off by {colour_error:.1f}"

    assert any(first_seen[n][0] < sender_done for n in matched), "frames are decoded while the stream runs"
    keys = [frame.time for _, frame, _ in reader.frames if frame.key_frame]
    print(f"\nstream: {len(matched)} frames decoded, PSNR >= {min(psnr):.1f} dB; key frames at {keys}")
    assert len(keys) >= 2 and max(np.diff(keys)) <= 1.05, f"key frames at {keys}: a late joiner waits too long"
