"""The stream and a recording of the same size and rate encode each frame once (issue 27, 3),
through real sinks: a real PyAV reader of the UDP stream, the recording decoded by PyAV.

Each frame is encoded once for both outputs, so what the reader decodes and what the file
decodes are the same pictures, bit for bit (two encoders, as before, never give that);
each output still decodes on its own (the recording from its first cartoon frame, at an
exact 30 fps; the stream with its key frames); other formats keep their own encoder; and
one output failing (a file grown past its limit, a stream refused by the network) ends
that output alone, with its one line, while the other runs on. How fast they go under
load is ``python -m benchmarks.pacing --load``'s.
"""

from __future__ import annotations

import hashlib
import resource
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from app.live.outputs import RECORD, STREAM, OutputRequest, open_output
from app.live.record import AlphaRecordSink, RecordSink
from app.live.settings import OutputSettings
from app.live.shared_encoder import EncoderPool
from app.live.sink_set import SinkSet
from app.live.sinks import PacerTiming, letterbox, wait_on_stop
from app.live.stream import StreamSink
from tests.test_sinks import listening_reader, read_stamp, stamp, with_bar

W, H, FPS = 320, 240, 30
SETTINGS = OutputSettings(W, H, FPS)


def numbered(picture: np.ndarray, number: int) -> np.ndarray:
    """Frame ``number``: a moving bar (every frame differs) and the number stamped on top."""
    return stamp(with_bar(picture, (number * 8) % (W - 16)), number)


def send_numbered(sinks: SinkSet, picture: np.ndarray, seconds: float, first: int = 1,
                  until: Callable[[], bool] = lambda: False) -> int:
    """Numbered frames to every sink at the output rate for ``seconds`` (or until ``until()``); the next number."""
    number = first
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not until():
        sinks.submit(numbered(picture, number))
        number += 1
        time.sleep(1 / FPS)
    return number


def decoded(path: Path) -> tuple[list[float], list[np.ndarray], list[bool]]:
    """A file's video: each frame's time (s), its BGR picture and whether it is a key frame."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.average_rate == FPS
        frames = list(container.decode(video))
    return ([float(f.pts * f.time_base) for f in frames], [f.to_ndarray(format="bgr24") for f in frames],
            [f.key_frame for f in frames])


def digest(image: np.ndarray) -> str:
    return hashlib.sha1(image.tobytes()).hexdigest()


def open_on(sinks: SinkSet, name: str, target: str | Path, settings: OutputSettings = SETTINGS) -> None:
    sinks.set(name, open_output(name, OutputRequest(settings, target, encoders=sinks.encoders)))


def test_stream_and_recording_of_the_same_format_encode_each_frame_once(tmp_path, astronaut_bgr):
    picture = letterbox(astronaut_bgr, W, H)
    reader = listening_reader()
    sinks = SinkSet()
    try:
        open_on(sinks, STREAM, f"udp://127.0.0.1:{reader.port}")
        time.sleep(0.3)  # the stream shows its starting card; the recording joins a running encoder
        open_on(sinks, RECORD, tmp_path / "rec.mp4")
        stream, recording = sinks.get(STREAM), sinks.get(RECORD)
        assert isinstance(stream, StreamSink) and isinstance(recording, RecordSink)
        (feed,) = sinks.encoders.feeds()
        assert stream.feed is recording.feed is feed, "one encoder for both"
        send_numbered(sinks, picture, 3.0)
    finally:
        sinks.close_all()
    reader.join(15)
    assert recording.saved == tmp_path / "rec.mp4", recording.status
    assert not sinks.encoders.feeds(), "the encoder stopped with its last output"
    assert recording.frames > 60
    assert stream.frames <= feed.encoded <= stream.frames + 10 < stream.frames + recording.frames, (
        f"{feed.encoded} frames encoded for {stream.frames} streamed and {recording.frames} recorded: "
        f"one encode a tick, for both (a few before the stream joined and after it closed)")

    times, images, keys = decoded(recording.saved)
    assert len(images) == recording.frames
    assert keys[0] and read_stamp(images[0]) >= 1, "the recording starts at its first cartoon frame, a key frame"
    assert np.allclose(np.diff(times), 1 / FPS), "one frame per tick: constant rate"

    assert len(reader.frames) >= 45, f"the reader decoded {len(reader.frames)} frames ({reader.error!r})"
    streamed = {digest(image) for _, _, image in reader.frames}
    joined = min(read_stamp(image) for _, _, image in reader.frames)  # the reader starts at a key frame
    both = [image for image in images if read_stamp(image) > joined]
    same = [digest(image) in streamed for image in both]
    assert len(both) >= 45 and sum(same) >= 0.95 * len(both), (
        f"{sum(same)} of {len(both)} recorded frames are bit-identical to a streamed one: not encoded once")


def test_other_formats_keep_their_own_encoders(tmp_path, astronaut_bgr):
    """A recording at another size rides another encoder; a transparent one has its own (VP9)."""
    reader = listening_reader()
    sinks = SinkSet()
    try:
        open_on(sinks, STREAM, f"udp://127.0.0.1:{reader.port}")
        open_on(sinks, RECORD, tmp_path / "big.mp4", OutputSettings(640, 360, FPS))
        assert len(sinks.encoders.feeds()) == 2 and sinks.get(STREAM).feed is not sinks.get(RECORD).feed
        send_numbered(sinks, letterbox(astronaut_bgr, W, H), 1.0)
        big = sinks.get(RECORD)
        sinks.set(RECORD, None)
        alpha = open_output(RECORD, OutputRequest(SETTINGS, tmp_path / "cut.webm", alpha=True,
                                                  encoders=sinks.encoders))
        sinks.set(RECORD, alpha)
        assert isinstance(alpha, AlphaRecordSink) and len(sinks.encoders.feeds()) == 1
        send_numbered(sinks, letterbox(astronaut_bgr, W, H), 1.0)
    finally:
        sinks.close_all()
    reader.join(15)
    _, images, _ = decoded(big.saved)
    assert images and images[0].shape == (360, 640, 3)
    assert alpha.saved is not None and len(reader.frames) > 30, (alpha.status, len(reader.frames))


@pytest.fixture
def file_size_limit():
    """Files this process writes may grow to a given size; past it a write fails with EFBIG
    ("File too large"), as on a full disk, instead of killing the process (SIGXFSZ ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    yield lambda size: resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, previous)


def test_a_recording_that_cannot_write_ends_alone_and_the_stream_runs_on(tmp_path, astronaut_bgr, file_size_limit):
    picture = letterbox(astronaut_bgr, W, H)
    reader = listening_reader()
    sinks = SinkSet()
    try:
        open_on(sinks, STREAM, f"udp://127.0.0.1:{reader.port}")
        open_on(sinks, RECORD, tmp_path / "rec.mp4")
        stream, recording = sinks.get(STREAM), sinks.get(RECORD)
        file_size_limit(64 * 1024)
        number = send_numbered(sinks, picture, 20.0, until=lambda: recording.error is not None)
        assert recording.error, f"the recording never failed ({recording.frames} frames written)"
        failed_at, after = time.monotonic(), number
        send_numbered(sinks, picture, 1.5, first=number)
        assert recording.status.startswith("recording stopped: cannot write") and "File too large" in recording.status
        assert stream.error is None and sinks.get(RECORD) is recording, "the stream runs on; the recording says why"
    finally:
        sinks.close_all()
    reader.join(15)
    late = {read_stamp(image) for seen, _, image in reader.frames if seen > failed_at + 0.2}
    assert len([n for n in late if n >= after]) >= 30, "the stream kept delivering new frames after the failure"
    assert not list(tmp_path.iterdir()), "the failed recording leaves nothing"


def test_a_stream_the_network_refuses_ends_alone_and_the_recording_runs_on(tmp_path, astronaut_bgr):
    """A broadcast address without permission to broadcast: the first packet sent is refused."""
    sinks = SinkSet()
    try:
        open_on(sinks, RECORD, tmp_path / "rec.mp4")
        open_on(sinks, STREAM, "udp://255.255.255.255:9999")
        stream, recording = sinks.get(STREAM), sinks.get(RECORD)
        send_numbered(sinks, letterbox(astronaut_bgr, W, H), 1.5)
        assert stream.status == "stream stopped: cannot send to udp://255.255.255.255:9999: Permission denied", (
            stream.status)
        assert recording.error is None
    finally:
        sinks.close_all()
    _, images, _ = decoded(recording.saved)
    assert len(images) == recording.frames >= 35, f"{recording.frames} frames: the recording went on"


def test_a_late_stream_tick_keeps_its_place_on_the_grid(astronaut_bgr):
    """The encoder's thread wakes 0.25 s late once (a busy CPU): the ticks it missed go out
    late, the newest frame, their timestamps on the grid; the reader sees no hole. (Before,
    missed ticks were skipped: a 0.25 s hole in the timestamps.)"""
    woken = []

    def oversleep_once(stop: threading.Event, seconds: float) -> object:
        woken.append(seconds)
        return wait_on_stop(stop, seconds + (0.25 if len(woken) == 30 else 0.0))

    reader = listening_reader()
    picture = letterbox(astronaut_bgr, W, H)
    with StreamSink(f"udp://127.0.0.1:{reader.port}", SETTINGS, timing=PacerTiming(sleep=oversleep_once)) as sink:
        for number in range(1, 3 * FPS):
            sink.submit(numbered(picture, number))
            time.sleep(1 / FPS)
    reader.join(15)
    stamps = np.array(sorted(float(frame.pts * frame.time_base) for _, frame, _ in reader.frames))
    assert len(woken) > 60 and len(stamps) > 45, f"{len(stamps)} frames decoded"
    assert np.diff(stamps).max() < 1.5 / FPS, f"largest hole {np.diff(stamps).max() * FPS:.1f} periods"


def test_beside_a_recording_catching_up_the_stream_skips_what_is_too_late(tmp_path, astronaut_bgr):
    """The encoder's thread wakes 1.5 s late once, 2 s in: the recording gets every tick it missed (constant
    rate), while the stream never carries a tick later than the feed's catch-up (0.5 s): it skips
    the oldest and goes on from a key frame. (Sharing the recording's encoder, it would otherwise
    have carried the whole backlog, 1.5 s behind.)"""
    woken = []

    def oversleep_once(stop: threading.Event, seconds: float) -> object:
        woken.append(seconds)
        return wait_on_stop(stop, seconds + (1.5 if len(woken) == 2 * FPS else 0.0))

    picture = letterbox(astronaut_bgr, W, H)
    reader = listening_reader(read_timeout=3.0)  # the stall is longer than its usual 1 s of silence
    pool = EncoderPool()
    stream = StreamSink(f"udp://127.0.0.1:{reader.port}", SETTINGS, pool, PacerTiming(sleep=oversleep_once))
    with stream, RecordSink(tmp_path / "rec.mp4", SETTINGS, encoders=pool) as recording:
        assert recording.feed is stream.feed
        for number in range(1, 5 * FPS):
            recording.submit(numbered(picture, number))
            time.sleep(1 / FPS)
        sent = time.monotonic()
    reader.join(15)
    times, _, _ = decoded(recording.saved)
    assert len(woken) > 90 and np.allclose(np.diff(times), 1 / FPS), "the recording: every tick"
    frames = sorted((float(frame.pts * frame.time_base), seen) for seen, frame, _ in reader.frames
                    if seen < sent)  # not the few the decoder gives back only at the end of the stream
    at, seen = np.array(frames).T
    holes = np.diff(at)
    hole = int(holes.argmax())
    assert len(frames) > 60 and holes[hole] > 0.25, "the ticks too late for the stream were skipped"
    lag = seen - at - np.median((seen - at)[:hole])  # 0 before the stall
    assert lag[hole + 1:].max() < 0.75, f"after the stall the stream carried a tick {lag[hole + 1:].max():.2f} s late"
