"""Recordings carry the sound of a video file source, in sync with the recorded picture (issue 27).

The source is a real clip made here with PyAV: a grey picture that turns white for 5
frames, a 440 Hz tone with a loud click at that instant. It is played as the source
(its picture and its sound on one clock), and a real recording is made: with the
picture handed over 150 ms late (as a model makes it), and through the window's
Record button. In the file the click must sound where the white frame shows (within 2
frames), and the sound must start with the picture (within 1 frame).
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import av
import numpy as np
import pytest
from PyQt6.QtCore import Qt

from app.gui import settings_store
from app.live.audio import FileSound, PlaybackClock
from app.live.microphone import NONE
from app.live.record import RecordSink
from app.live.sink_set import SinkSet
from app.live.settings import FileSpec, OutputSettings
from app.live.sources import LoopedFile
from tests.test_gui import clip, next_frame, open_window, store  # noqa: F401 - fixtures

RATE, SECONDS, FLASH_AT = 30, 3.0, 1.0
SAMPLE_RATE = 44100


def write_click_clip(path: Path, sound: bool = True) -> Path:
    """Grey 320x240 at 30 fps, white from ``FLASH_AT`` for 5 frames (the model may skip one); with ``sound``
    AAC: a tone, and a 10 ms click at ``FLASH_AT``."""
    frames = round(SECONDS * RATE)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.options = {"crf": "18", "preset": "ultrafast"}
        track = container.add_stream("aac", rate=SAMPLE_RATE) if sound else None
        if track:
            track.layout = "stereo"
        for index in range(frames):
            level = 250 if 0 <= index - round(FLASH_AT * RATE) < 5 else 60
            image = np.full((240, 320, 3), level, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if not track:
            return path
        t = np.arange(round(SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
        wave = 0.1 * np.sin(2 * np.pi * 440 * t)
        click = slice(round(FLASH_AT * SAMPLE_RATE), round((FLASH_AT + 0.01) * SAMPLE_RATE))
        wave[click] = np.random.default_rng(0).choice([-0.9, 0.9], click.stop - click.start)
        samples = (wave * 32767).astype(np.int16)
        for start in range(0, len(samples), 1024):
            block = np.repeat(samples[None, start:start + 1024], 2, axis=0).T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="s16", layout="stereo")
            frame.sample_rate, frame.pts = SAMPLE_RATE, start
            container.mux(track.encode(frame))
        container.mux(track.encode(None))
    return path


@pytest.fixture(scope="module")
def click_clip(tmp_path_factory) -> Path:
    return write_click_clip(tmp_path_factory.mktemp("sound") / "click.mp4")


def flashes(path: Path) -> tuple[list[float], float]:
    """Times (s) at which white frames start in the recorded picture, and its first frame's time."""
    with av.open(str(path)) as container:
        frames = [(float(f.pts * f.time_base), f.to_ndarray(format="gray").mean()) for f in container.decode(video=0)]
    levels = np.array([level for _, level in frames])
    bright = levels > (np.median(levels) + levels.max()) / 2  # grey and white, as the style draws them
    starts = [frames[i][0] for i in range(len(frames)) if bright[i] and (i == 0 or not bright[i - 1])]
    return starts, frames[0][0]


def clicks(path: Path) -> tuple[list[float], float]:
    """Times (s) at which clicks start in the recorded sound, and its first sample's time."""
    with av.open(str(path)) as container:
        decoded = list(container.decode(audio=0))
    start = float(decoded[0].pts * decoded[0].time_base)
    rate = decoded[0].sample_rate
    samples = np.concatenate([f.to_ndarray()[0] for f in decoded])
    loud = np.flatnonzero(np.abs(np.diff(samples)) > 0.5)
    onsets = [loud[0]] + [b for a, b in zip(loud, loud[1:]) if b - a > rate // 2] if len(loud) else []
    return [start + i / rate for i in onsets], start


def check_in_sync(path: Path) -> str:
    """The sound starts with the picture (1 frame) and every click sounds with its white frame (2 frames)."""
    seen, video_start = flashes(path)
    heard, audio_start = clicks(path)
    frame = 1 / RATE
    assert abs(audio_start - video_start) <= frame, f"the sound starts with the picture: {audio_start} vs {video_start}"
    assert seen and len(heard) >= len(seen), (seen, heard)
    offsets = [min((click - flash for click in heard), key=abs) for flash in seen]
    assert all(abs(offset) <= 2 * frame for offset in offsets), f"click vs white frame: {offsets} s"
    return f"start {audio_start - video_start:+.3f} s, click - white frame {[round(o, 3) for o in offsets]} s"


def test_recording_sound_is_delayed_by_the_picture_latency(click_clip, tmp_path):
    """A steady 150 ms picture latency (as a model adds): the file played as a source (its picture
    and its sound on one clock), each frame handed to a real recording 150 ms after capture."""
    latency = 0.15
    clock, sinks = PlaybackClock(), SinkSet()
    source = LoopedFile(click_clip, clock=clock)
    sound = FileSound(click_clip, clock, sinks.audio).start()
    try:
        sinks.set("record", RecordSink(tmp_path / "rec.mp4", OutputSettings(640, 360, RATE), audio=sinks.audio))
        assert sinks.get("record").status.endswith("with sound of click.mp4)")
        held: deque[tuple[float, np.ndarray]] = deque()
        until = time.perf_counter() + SECONDS * 1.5
        while time.perf_counter() < until:
            image = source.read()  # at its time on the clock
            held.append((time.perf_counter(), image))
            while held and held[0][0] + latency <= time.perf_counter() + 0.5 / RATE:
                captured, late = held.popleft()
                sinks.submit(late, captured=captured)
        sinks.set("record", None)
    finally:
        sound.stop()
        source.close()
    print(check_in_sync(tmp_path / "rec.mp4"))


def test_window_records_the_file_sound_in_sync_and_says_so(qtbot, store, click_clip, tmp_path, monkeypatch):
    """Through the window's Record button, with the raw camera sent to the outputs (bypass alone
    changes only the preview) so that the picture keeps every frame: the model on a loaded
    machine skips some, and the white frame with them."""
    target = tmp_path / "rec.mp4"
    monkeypatch.setattr("app.gui.folders.recording_path", lambda: target)
    window = open_window(qtbot, store, FileSpec(click_clip))
    try:
        qtbot.keyClick(window, Qt.Key.Key_B)
        window.look.raw_check.setChecked(True)
        next_frame(qtbot, window)
        window.outputs.refresh()
        assert window.outputs.sound_note.text() == "Recording: picture + sound of click.mp4"
        qtbot.keyClick(window, Qt.Key.Key_R)
        assert window.outputs.record_button.isChecked(), window.outputs.status.text()
        assert "with sound of click.mp4" in window.outputs.status.text(), "the window says what is recorded"
        qtbot.wait(round(SECONDS * 1000 * 1.5))  # a click at least, whatever the loop's phase
        qtbot.keyClick(window, Qt.Key.Key_R)
        assert "recorded" in window.outputs.status.text() and target.is_file(), window.outputs.status.text()
    finally:
        window.close()
    print(check_in_sync(target))


def test_a_recording_without_sound_says_so(qtbot, store, clip, tmp_path, monkeypatch):
    """A clip without audio, and the Sound choice *None* (else the default microphone is heard)."""
    monkeypatch.setattr("app.gui.folders.recording_path", lambda: tmp_path / "silent.mp4")
    settings_store.MICROPHONE.save(store, NONE)
    window = open_window(qtbot, store, FileSpec(clip))  # a clip without audio
    try:
        next_frame(qtbot, window)
        window.outputs.refresh()
        assert window.outputs.sound_note.text() == "Recording: picture only"
        qtbot.keyClick(window, Qt.Key.Key_R)
        assert "no sound" in window.outputs.status.text()
        next_frame(qtbot, window)
        qtbot.keyClick(window, Qt.Key.Key_R)
    finally:
        window.close()
    with av.open(str(tmp_path / "silent.mp4")) as container:
        assert not container.streams.audio
