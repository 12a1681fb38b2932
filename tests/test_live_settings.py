"""The typed settings flow: specs and settings checked where they are made, one open_source.

Real clips encoded with PyAV, real threads, a real recording decoded afterwards.
"""

from __future__ import annotations

import shutil
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from common.errors import LiveToonError

from app.media.video_in import VideoReader
from app.live.contracts import SourceError, SourceState
from app.live.record import RecordSink
from app.live.processor import LiveProcessor
from app.live.session import LiveSession
from app.live.sink_set import SinkSet
from app.live.settings import CameraSpec, FileSpec, LiveSettings, OutputSettings, source_from_key
from app.live.sources import open_source
from tests.clips import write_clip

LIGHT = LiveSettings(style="toon-lite", mode="background", stability=0.0, device="cpu")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("settings") / "clip.mp4", frames=12, size=(160, 120),
                      rate=Fraction(30), audio=())


def test_a_wrong_setting_fails_at_the_call_and_changes_nothing():
    processor = LiveProcessor(LIGHT)
    assert processor.update(strength=1, mirror=True).strength == 1, "an int where a float goes is fine"
    for bad in ({"strenght": 0.5}, {"max_size": "720"}, {"mirror": 1}, {"stability": True}, {"model_fps": 10}):
        with pytest.raises(TypeError, match=next(iter(bad))):
            processor.update(**bad)
    with pytest.raises(LiveToonError, match="strength must be in"):
        processor.update(strength=2.0)
    assert processor.settings == LiveSettings(style="toon-lite", mode="background", stability=0.0, device="cpu",
                                              strength=1, mirror=True)


def test_output_settings_refuse_what_no_device_takes():
    assert OutputSettings().size == (1280, 720) and OutputSettings().fps == 30.0
    for width, height, fps in ((1280, 720, 0), (1, 720, 30), (640, 360, 1000)):
        with pytest.raises(LiveToonError, match="output needs"):
            OutputSettings(width, height, fps)


def test_a_remembered_source_comes_back_as_the_same_spec(tmp_path):
    movie = FileSpec(tmp_path / "my movie.mp4")
    assert source_from_key(movie.key) == movie
    assert source_from_key(CameraSpec("2").key, (640, 480, 60.0)) == CameraSpec("2", 640, 480, 60.0)
    assert [source_from_key(key) for key in ("", "camera:", "file:", "rtsp://x")] == [None] * 4


def test_open_source_checks_now_and_reads_on_its_own_thread(clip, tmp_path):
    with pytest.raises(LiveToonError, match="missing.mp4"):
        open_source(FileSpec(tmp_path / "missing.mp4"))
    with pytest.raises(SourceError, match="no camera named 'no such camera'"):
        open_source(CameraSpec("no such camera"))
    with VideoReader(clip) as reader:
        decoded = [frame.image for frame in reader]
    events: list[tuple[SourceState, str]] = []
    source = open_source(FileSpec(clip), on_status=lambda state, detail: events.append((state, detail)))
    assert events == [], "nothing is reported before reading starts"
    stop, got = threading.Event(), []

    def read() -> None:
        for frame in source.frames(stop):
            got.append(frame.image)
            if len(got) == 15:
                stop.set()

    reader_thread = threading.Thread(target=read)
    reader_thread.start()
    reader_thread.join(20)
    source.close()
    assert not reader_thread.is_alive() and len(got) == 15
    assert [state for state, _ in events] == [SourceState.LIVE] and isinstance(events[0][0], SourceState)
    matched = [min(range(len(decoded)), key=lambda i: np.abs(image.astype(int) - decoded[i]).sum()) for image in got]
    assert all(np.array_equal(image, decoded[i]) for image, i in zip(got, matched)), "the file's own frames"
    assert matched[:3] == sorted(matched[:3]), "in order"


def test_a_vanishing_camera_puts_the_slate_on_the_recording(clip, tmp_path):
    """The session wires the slate at construction: whoever listens to the status hears
    LOST after the outputs were told, with no reassignment by the caller."""
    moving = tmp_path / "camera.mp4"
    shutil.copy(clip, moving)
    output = OutputSettings(160, 120, 20.0)
    sinks = SinkSet()
    sinks.set("record", RecordSink(tmp_path / "rec.mp4", output))
    heard: list[SourceState] = []
    lost = threading.Event()

    def on_status(state: SourceState, detail: str) -> None:
        heard.append(state)
        if state is SourceState.LOST:
            lost.set()

    session = LiveSession(FileSpec(moving), LiveProcessor(LIGHT), sinks, on_status=on_status)
    runner = threading.Thread(target=session.run)
    runner.start()
    try:
        deadline = time.perf_counter() + 60
        while SourceState.LIVE not in heard and time.perf_counter() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        moving.rename(tmp_path / "unplugged.mp4")  # the loop's next reopen fails
        assert lost.wait(30), f"no LOST within 30 s; heard {heard}"
        time.sleep(1.0)
    finally:
        session.stop()
        runner.join(10)
        sinks.close_all()
    assert not runner.is_alive()
    with av.open(str(tmp_path / "rec.mp4")) as container:
        frames = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    assert looks_like_a_slate(frames[-1]), "the recording ends on the camera-lost slate"
    assert not looks_like_a_slate(frames[0]), "and starts on the picture"


def looks_like_a_slate(frame: np.ndarray) -> bool:
    """What the slate promises, checked without drawing one: a dark, flat frame with one line
    of light text across its middle (rows away from it dark and flat, H.264's noise aside)."""
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(int)
    h = gray.shape[0]
    band = slice(h // 2 - 15, h // 2 + 15)
    away = np.concatenate([gray[:band.start], gray[band.stop:]])
    light = gray[band] > 150
    return bool(away.max() < 70 and away.std() < 4 and light.sum() >= 30 and (gray > 150).sum() == light.sum())
