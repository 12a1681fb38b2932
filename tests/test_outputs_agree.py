"""Every output of one live run shows the same thing (issue 30, never checked before).

``livetoon live`` with a recording and a stream at once, the stream read by a real
MPEG-TS reader: from the first cartoon frame on, what the stream showed is in the
recording, and the recording holds no start-up card. And a camera that comes back:
the outputs return from the "camera lost" slate to cartoon frames.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np

from app.commands.cli import main
from app.live.contracts import SourceState
from app.live.record import RecordSink
from app.live.processor import LiveProcessor
from app.live.session import LiveSession
from app.live.sink_set import SinkSet
from app.live.settings import FileSpec, LiveSettings, OutputSettings
from tests.test_live import STYLE_ARGS, clip, expected, start_receiver  # noqa: F401 - fixtures
from tests.test_live_settings import looks_like_a_slate

SAME = 30.0
"""dB: two lossy encodings of one picture (H.264 file, MPEG-TS stream) are at least this close."""


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def best_psnr(frame: np.ndarray, pictures: list[np.ndarray]) -> float:
    return max(float(cv2.PSNR(frame, picture)) for picture in pictures)


def test_a_recording_holds_what_the_stream_shows_from_the_first_cartoon_frame_on(clip, expected, tmp_path):  # noqa: F811
    streamed: list[np.ndarray] = []
    url, receiver = start_receiver(streamed)
    target = tmp_path / "rec.mp4"
    assert main(["live", "--input", str(clip), "--record", str(target), "--stream", url,
                 "--output-size", "320x240", "--output-fps", "20", "--duration", "5", *STYLE_ARGS]) == 0
    receiver.join(30)
    recorded = decoded(target)
    cartoon = [best_psnr(frame, expected) > SAME for frame in streamed]
    assert any(cartoon), f"no cartoon frame among {len(streamed)} streamed"
    shown = streamed[cartoon.index(True):]  # before it, the stream's start-up card
    assert len(shown) >= 20 and len(recorded) >= 20, (len(shown), len(recorded))
    assert best_psnr(recorded[0], expected) > SAME, "the recording starts on a cartoon frame, not a card"
    missing = [i for i, frame in enumerate(shown) if best_psnr(frame, recorded) < SAME]
    assert not missing, f"{len(missing)} of {len(shown)} streamed frames are not in the recording: {missing[:10]}"


def test_the_outputs_return_to_cartoon_frames_when_the_camera_comes_back(clip, expected, tmp_path):  # noqa: F811
    moving = tmp_path / "camera.mp4"
    shutil.copy(clip, moving)
    sinks = SinkSet()
    sinks.set("record", RecordSink(tmp_path / "rec.mp4", OutputSettings(320, 240, 20.0)))
    heard: list[tuple[float, SourceState]] = []
    settings = LiveSettings(style="toon-lite", mode="background", stability=0.0, device="cpu")
    session = LiveSession(FileSpec(moving), LiveProcessor(settings), sinks,
                          on_status=lambda state, detail: heard.append((time.perf_counter(), state)))
    runner = threading.Thread(target=session.run)
    runner.start()

    def wait_for(state: SourceState, after: int) -> None:
        deadline = time.perf_counter() + 60
        while not any(s is state for _, s in heard[after:]) and time.perf_counter() < deadline:
            time.sleep(0.05)
        assert any(s is state for _, s in heard[after:]), f"no {state} within 60 s; heard {heard}"

    try:
        wait_for(SourceState.LIVE, 0)
        time.sleep(1.0)
        hidden = moving.rename(tmp_path / "unplugged.mp4")  # the loop's next reopen fails
        lost_at = len(heard)
        wait_for(SourceState.LOST, 0)
        time.sleep(1.0)
        hidden.rename(moving)  # plugged in again
        wait_for(SourceState.LIVE, lost_at)
        time.sleep(2.0)
    finally:
        session.stop()
        runner.join(20)
        sinks.close_all()
    assert not runner.is_alive()
    frames = decoded(tmp_path / "rec.mp4")
    slates = [i for i, frame in enumerate(frames) if looks_like_a_slate(frame)]
    assert slates, "the slate was on the recording while the camera was gone"
    after = frames[slates[-1] + 1:]
    assert len(after) >= 10, f"only {len(after)} frames after the slate"
    cartoon = [best_psnr(frame, expected) > SAME for frame in after]
    assert all(cartoon[3:]), f"after the camera came back: cartoon frames {cartoon}"
