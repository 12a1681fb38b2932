"""Live sources: camera names, files as cameras, and surviving an unplugged or hung camera.

No camera is attached to the CI machine, so the device is a real video file behind a
"plug" the test pulls: reads raise (unplugged), block (driver hang) or repeat the
last picture (OpenCV on a dead camera), and opening fails while it is pulled.
"""

from __future__ import annotations

import re
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from common.errors import LiveToonError

from app.live.cameras import CameraInfo, _sysfs_cameras, resolve_camera
from app.live.contracts import SourceError
from app.live.sources import LoopedFile, WatchedSource
from tests.clips import write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("src") / "clip.mp4", frames=12, rate=Fraction(30), audio=())


def test_v4l2_names_skip_metadata_nodes(tmp_path):
    for node, name, index in (("video0", "HD Webcam C615", 0), ("video1", "HD Webcam C615", 1), ("video10", "LiveToon", 0)):
        (tmp_path / node).mkdir()
        (tmp_path / node / "name").write_text(name + "\n")
        (tmp_path / node / "index").write_text(f"{index}\n")
    cameras = _sysfs_cameras(tmp_path)
    assert cameras == [CameraInfo(0, "HD Webcam C615"), CameraInfo(10, "LiveToon")]
    assert resolve_camera("webcam", cameras).index == 0
    assert resolve_camera("10", cameras).name == "LiveToon"
    with pytest.raises(SourceError, match="no camera named 'obs'.*HD Webcam C615 \\(0\\)"):
        resolve_camera("obs", cameras)
    with pytest.raises(SourceError, match="several cameras"):
        resolve_camera("", cameras + [CameraInfo(3, "Other")])


def test_file_as_camera_loops_at_its_own_rate(clip):
    source = LoopedFile(clip)
    started = time.perf_counter()
    frames = [source.read() for _ in range(30)]  # 2.5 loops of 12 frames at 30 fps
    elapsed = time.perf_counter() - started
    source.close()
    assert elapsed >= 29 / 30 - 0.02, f"paced at the file's rate, not as fast as decoding ({elapsed:.2f} s)"
    assert np.array_equal(frames[0], frames[12]) and np.array_equal(frames[1], frames[25]), "looped from the start"
    assert not np.array_equal(frames[0], frames[1])


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(LiveToonError, match="missing.mp4"):
        LoopedFile(tmp_path / "missing.mp4")


class Plug:
    """Sits between the device (a real clip) and the source; the test pulls it."""

    def __init__(self, clip: Path) -> None:
        self.clip = clip
        self.state = "in"  # in | out | hang | repeat
        self.released = threading.Event()
        self.opens = 0
        self.last: np.ndarray | None = None

    def open(self) -> PluggedFile:
        if self.state == "out":
            raise SourceError("cannot open camera 0 (unplugged)")
        self.opens += 1
        return PluggedFile(self)

    def set(self, state: str) -> None:
        self.state = state
        if state != "hang":
            self.released.set()
            self.released = threading.Event()


class PluggedFile(LoopedFile):
    repeats_mean_frozen = True  # behaves as a camera

    def __init__(self, plug: Plug) -> None:
        super().__init__(plug.clip)
        self.plug = plug

    def read(self) -> np.ndarray:
        state = self.plug.state
        if state == "out":
            raise SourceError("the camera stopped delivering frames")
        if state == "hang":
            self.plug.released.wait()  # a driver call that does not return
            raise SourceError("the camera stopped delivering frames")
        if state == "repeat" and self.plug.last is not None:
            time.sleep(1 / 30)
            return self.plug.last  # also after reopening: the driver's stale buffer
        self.plug.last = super().read()
        return self.plug.last


class Watch:
    """Runs a WatchedSource on a thread, recording frames and status changes."""

    def __init__(self, plug: Plug) -> None:
        self.events: list[tuple[float, str, str]] = []
        self.frames = 0
        self.stop = threading.Event()
        self.source = WatchedSource(plug.open, on_status=self.status, stall_seconds=0.6, backoff=(0.05, 0.1, 0.2))
        self.thread = threading.Thread(target=self.consume, daemon=True)
        self.thread.start()

    def status(self, state: str, detail: str) -> None:
        self.events.append((time.perf_counter(), state, detail))

    def consume(self) -> None:
        for _ in self.source.frames(self.stop):
            self.frames += 1

    def wait_for(self, state: str, timeout: float = 10.0) -> str:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.events and self.events[-1][1] == state:
                return self.events[-1][2]
            time.sleep(0.02)
        raise AssertionError(f"no {state!r} within {timeout} s; events: {self.events}")

    def frames_within(self, seconds: float) -> int:
        before = self.frames
        time.sleep(seconds)
        return self.frames - before

    def close(self) -> None:
        self.stop.set()
        self.thread.join(3)
        assert not self.thread.is_alive()


@pytest.mark.parametrize("failure, reason", [
    ("out", "stopped delivering|unplugged"),        # unplugged: reads raise, reopening fails until it is back
    ("hang", "stopped responding"),       # a driver call that never returns
    ("repeat", "froze"),                   # OpenCV handing back the last picture forever
])
def test_camera_loss_is_reported_and_recovered(clip, failure, reason):
    plug = Plug(clip)
    watch = Watch(plug)
    try:
        watch.wait_for("live")
        assert watch.frames_within(0.3) > 0
        opens = plug.opens
        plug.set(failure)
        assert re.search(reason, watch.wait_for("lost"))
        assert watch.frames_within(0.3) == 0, "no stale frames while lost"
        plug.set("in")
        watch.wait_for("live")
        assert watch.frames_within(0.3) > 0, "frames flow again after the camera returns"
        assert plug.opens > opens, "the lost device was reopened"
        assert watch.source.reconnects == 1
    finally:
        plug.set("in")
        watch.close()
