"""Recordings hear the microphone, in sync with the picture (issue 27, item 2).

The "microphone" is real sound through a real sound server: a private PulseAudio
(:mod:`tests.pulse_room`) whose default source hears what ``pacat`` plays into its
room. The picture is a real clip without sound whose frame 30 (1 s) turns white for 5
frames, played as the source on its clock; each time the white frame shows, the test
writes a loud click into the room (it sounds there 10-20 ms later: pacat's queue). So a
recording in sync has each click where its white frame shows: checked in the decoded
file (within 2 frames), and its sound starts with its picture (within 1 frame). A
missing microphone, or one lost mid-way, says so in one line and keeps the picture.
"""

from __future__ import annotations

import re
import time
from collections import deque
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PyQt6.QtCore import Qt

from app.commands.cli import main
from app.gui import settings_store
from app.live.audio import PlaybackClock
from app.live.microphone import AUTO, NONE
from app.live.outputs import RECORD, OutputRequest, open_output
from app.live.sink_set import SinkSet
from app.live.settings import FileSpec, OutputSettings
from app.live.sources import LoopedFile
from tests.pulse_room import Clicker, PulseRoom, needs_pulseaudio
from tests.test_gui import next_frame, open_window, store  # noqa: F401 - fixtures
from tests.test_recording_sound import FLASH_AT, RATE, SECONDS, check_in_sync, write_click_clip

ROOM = "Monitor of Null Output"
"""What PulseAudio calls the room's monitor, the default source."""
STYLE_ARGS = ["--style", "toon-lite", "--mode", "background", "--stability", "0", "--device", "cpu"]


@pytest.fixture
def room(tmp_path, monkeypatch):
    needs_pulseaudio()
    room = PulseRoom(tmp_path / "pulse")
    monkeypatch.setenv("PULSE_SERVER", room.server)
    yield room
    room.close()


@pytest.fixture(scope="module")
def flash_clip(tmp_path_factory) -> Path:
    return write_click_clip(tmp_path_factory.mktemp("mic") / "flash.mp4", sound=False)


def play_with_clicks(clip: Path, sinks: SinkSet, clicker: Clicker, seconds: float, latency: float = 0.15,
                     during=None) -> None:
    """The clip played as the source, each frame handed to ``sinks`` ``latency`` after its capture (as a
    model adds); a click into the room when each play's white frame shows. ``during(elapsed)`` each frame."""
    clock = PlaybackClock()
    source = LoopedFile(clip, clock=clock)
    held: deque[tuple[float, np.ndarray]] = deque()
    plays = 0
    start = time.perf_counter()
    try:
        while time.perf_counter() < start + seconds:
            image = source.read()  # at its time on the clock
            held.append((time.perf_counter(), image))
            began = clock.start_of(plays, clock.generation, 0.0)
            if began is not None:
                clicker.click_at(began + FLASH_AT)
                plays += 1
            while held and held[0][0] + latency <= time.perf_counter() + 0.5 / RATE:
                captured, late = held.popleft()
                sinks.submit(late, captured=captured)
            if during:
                during(time.perf_counter() - start)
    finally:
        source.close()


def recording(path: Path, microphone: str, sinks: SinkSet) -> None:
    sinks.set(RECORD, open_output(RECORD, OutputRequest(OutputSettings(640, 360, RATE), path, audio=sinks.audio,
                                                        microphone=microphone)))


def tracks(path: Path) -> tuple[float, float | None]:
    """The decoded picture's and sound's lengths (s; None without sound)."""
    with av.open(str(path)) as container:
        video = [frame.time for frame in container.decode(video=0)]
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return video[-1] - video[0] + 1 / RATE, None
        sound = sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0))
    return video[-1] - video[0] + 1 / RATE, sound


def test_recording_hears_the_default_microphone_in_sync(room, flash_clip, tmp_path):
    """``auto`` with a source without sound: the default microphone, its clicks on their white frames."""
    clicker, sinks = Clicker(room), SinkSet()
    try:
        recording(tmp_path / "rec.mp4", AUTO, sinks)
        assert sinks.get(RECORD).status.endswith(f"with the default microphone '{ROOM}')"), sinks.get(RECORD).status
        play_with_clicks(flash_clip, sinks, clicker, SECONDS * 2.2)
        sinks.set(RECORD, None)
    finally:
        clicker.close()
    assert not sinks.audio.problem and not sinks.audio.microphone, "closed with the recording"
    print(check_in_sync(tmp_path / "rec.mp4"), f"(pacat's pipe held at most {clicker.queued * 1000:.1f} ms, "
                                               f"its own queue 10 ms)")


def test_a_missing_microphone_leaves_the_picture_and_says_why(room, flash_clip, tmp_path):
    sinks = SinkSet()
    recording(tmp_path / "rec.mp4", "no-such-mic", sinks)
    assert sinks.get(RECORD).status.endswith("no sound)")
    assert sinks.audio.problem.startswith("cannot open microphone 'no-such-mic' (")
    assert "the microphones here: room.monitor" in sinks.audio.problem
    assert sinks.audio.problem.endswith(": recording the picture only"), sinks.audio.problem
    play_with_clicks(flash_clip, sinks, Clicker(room), 1.0)
    sinks.set(RECORD, None)
    picture, sound = tracks(tmp_path / "rec.mp4")
    assert sound is None and picture > 0.5


def test_a_microphone_lost_mid_way_keeps_the_recording(room, flash_clip, tmp_path):
    """The sound server goes away 1 s in (as an unplugged USB microphone does): one line says so, the
    recording keeps its picture to the end and its sound track (silent from then) as long as it."""
    sinks, clicker = SinkSet(), Clicker(room)
    recording(tmp_path / "rec.mp4", AUTO, sinks)
    gone = []

    def unplug(elapsed: float) -> None:
        if elapsed > 1.0 and not gone:
            clicker.close()
            room.close()
            gone.append(elapsed)

    play_with_clicks(flash_clip, sinks, clicker, 2.5, during=unplug)
    deadline = time.monotonic() + 5
    while not sinks.audio.problem and time.monotonic() < deadline:
        time.sleep(0.05)
    sinks.set(RECORD, None)
    assert re.fullmatch(rf"the default microphone '{ROOM}' (lost \(.+\)|stopped sending sound): "
                        r"the rest of the recording is silent", sinks.audio.problem), sinks.audio.problem
    picture, sound = tracks(tmp_path / "rec.mp4")
    assert picture > 2.0 and sound is not None and abs(sound - picture) < 0.05, (picture, sound)


def test_window_records_the_chosen_microphone_in_sync_and_says_so(qtbot, store, room, flash_clip, tmp_path,
                                                                  monkeypatch):
    """The Outputs tab lists the room, records it when chosen, and says what is recorded; the raw camera
    goes to the outputs so that the white frames are kept (the model on a loaded machine skips some)."""
    target = tmp_path / "rec.mp4"
    monkeypatch.setattr("app.gui.folders.recording_path", lambda: target)
    clicker = Clicker(room)
    window = open_window(qtbot, store, FileSpec(flash_clip))
    try:
        choice = window.outputs.microphone
        index = choice.findData("room.monitor")
        assert index >= 0 and choice.itemText(index) == ROOM, [choice.itemText(i) for i in range(choice.count())]
        choice.setCurrentIndex(index)
        choice.activated.emit(index)
        assert settings_store.MICROPHONE.load(store) == "room.monitor", "remembered"
        qtbot.keyClick(window, Qt.Key.Key_B)
        window.look.raw_check.setChecked(True)
        next_frame(qtbot, window)
        window.outputs.refresh()
        assert window.outputs.sound_note.text() == f"Recording: picture + microphone '{ROOM}'"
        qtbot.keyClick(window, Qt.Key.Key_R)
        assert window.outputs.record_button.isChecked(), window.outputs.status.text()
        assert f"with microphone '{ROOM}'" in window.outputs.status.text()
        assert not choice.isEnabled(), "the recording's sound is chosen before it starts"
        clock = window.worker.session.clock
        plays, until = 0, time.perf_counter() + SECONDS * 1.6
        while time.perf_counter() < until:
            began = clock.start_of(plays, clock.generation, 0.0)
            if began is not None:
                clicker.click_at(began + FLASH_AT)
                plays += 1
            qtbot.wait(20)
        qtbot.keyClick(window, Qt.Key.Key_R)
        assert "recorded" in window.outputs.status.text() and target.is_file(), window.outputs.status.text()
        assert choice.isEnabled()
    finally:
        window.close()
        clicker.close()
    print(check_in_sync(target))


def test_window_says_picture_only_with_none(qtbot, store, room, flash_clip):
    settings_store.MICROPHONE.save(store, NONE)
    window = open_window(qtbot, store, FileSpec(flash_clip))
    try:
        window.outputs.refresh()
        assert window.outputs.sound_note.text() == "Recording: picture only"
        assert window.outputs.microphone.currentText() == "None: the picture only"
    finally:
        window.close()


@pytest.mark.parametrize("audio, heard", [(None, f"with the default microphone '{ROOM}'"), ("no-such-mic", "no sound")])
def test_live_records_the_microphone_or_says_in_one_line_why_not(room, flash_clip, tmp_path, capfd, audio, heard):
    """``livetoon live --record``: the default microphone by default; ``--audio`` a missing one: one note
    line, the picture recorded, exit 0."""
    target = tmp_path / "live.mp4"
    args = ["live", "--input", str(flash_clip), "--record", str(target), "--duration", "2",
            "--output-size", "320x240", *STYLE_ARGS] + (["--audio", audio] if audio else [])
    assert main(args) == 0
    out, err = capfd.readouterr()
    assert f"{heard})" in out, out
    notes = [line for line in out.splitlines() if line.startswith("note: ")]
    if audio:
        assert notes == [f"note: cannot open microphone '{audio}' (Input/output error; the microphones here: "
                         "room.monitor): recording the picture only"], out
    else:
        assert not notes, out
    assert "Traceback" not in out + err
    picture, sound = tracks(target)
    assert picture > 1.0 and (sound is None) == bool(audio), (picture, sound)
