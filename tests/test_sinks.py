"""Outputs for other programs: letterboxing, steady pacing through stalls, the lost slate,
the virtual camera's missing-backend message, a real v4l2loopback device where one exists."""

from __future__ import annotations

import glob
import platform
import time

import cv2
import numpy as np
import pytest

from app.sinks import FramePacer, StreamSink, VirtualCameraSink, letterbox, lost_slate, stream_target
from dctnet.errors import LiveToonError


def photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@pytest.mark.parametrize("shape", [(512, 256), (256, 512), (720, 1280)])
def test_letterbox_keeps_aspect_with_black_bars(shape):
    frame = cv2.resize(photo(), shape[::-1])
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
        self.times.append(time.perf_counter())
        self.frames.append(frame)


def test_pacer_keeps_a_steady_rate_through_a_stalling_source():
    out = Recorder()
    pacer = FramePacer(out, 320, 180, fps=30)
    try:
        first = cv2.resize(photo(), (320, 320))
        for _ in range(5):  # a source that delivers briefly...
            pacer.submit(first)
            time.sleep(0.03)
        stalled_from = len(out.times)
        time.sleep(1.0)  # ...then stalls for a second
        stalled = out.frames[stalled_from:]
        assert len(stalled) >= 20, f"only {len(stalled)} frames in a 1 s stall at 30 fps"
        assert all(np.array_equal(f, stalled[0]) for f in stalled), "the last frame repeats"
        gaps = np.diff(out.times)
        assert np.median(gaps) == pytest.approx(1 / 30, rel=0.25) and gaps.max() < 3 / 30, gaps.max()

        pacer.show_lost()
        time.sleep(0.2)
        slate = out.frames[-1]
        assert not np.array_equal(slate, stalled[0]) and (slate > 200).sum() > 100, "light slate text on dark"
        pacer.submit(first)
        time.sleep(0.2)
        assert np.array_equal(out.frames[-1], stalled[0]), "the next frame clears the slate"
    finally:
        started = time.perf_counter()
        pacer.close()
        assert time.perf_counter() - started < 1.0


def test_slate_says_camera_lost():
    slate = lost_slate(1280, 720)
    assert slate.shape == (720, 1280, 3) and (slate > 200).mean() > 0.002 and np.median(slate) == 32


def test_missing_virtual_camera_backend_gives_the_fix():
    if glob.glob("/dev/video*"):
        pytest.skip("a video device exists here: the missing-backend path cannot be shown")
    with pytest.raises(LiveToonError) as info:
        VirtualCameraSink(640, 360, 30)
    if platform.system() == "Linux":
        assert "modprobe v4l2loopback" in str(info.value) and "video" in str(info.value)


def test_frames_reach_a_real_v4l2loopback_device():
    try:
        sink = VirtualCameraSink(640, 360, 30)
    except LiveToonError as exc:
        pytest.skip(f"no virtual camera backend on this machine ({str(exc)[:80]}...)")
    device = sink.camera.device
    try:
        sink.submit(photo())
        time.sleep(0.3)
        capture = cv2.VideoCapture(device)
        ok, frame = capture.read()
        capture.release()
    finally:
        sink.close()
    assert ok and frame.shape[:2] == (360, 640)


@pytest.mark.parametrize("url", ["rtmp://example.org/live", "udp://127.0.0.1", "127.0.0.1:9999"])
def test_stream_url_must_be_udp_host_port(url):
    with pytest.raises(LiveToonError, match="udp://HOST:PORT"):
        StreamSink(url, 320, 240, 30)


def test_stream_url_gets_ts_sized_packets():
    assert stream_target("udp://127.0.0.1:9999") == "udp://127.0.0.1:9999?pkt_size=1316"
    assert stream_target("udp://10.0.0.2:5000?ttl=4") == "udp://10.0.0.2:5000?ttl=4&pkt_size=1316"
