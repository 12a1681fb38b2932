"""The window's sessions: one at a time, even when stopping the old one takes too long.

Real widgets offscreen, real encoded clips as the source, the real model.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

from app.live.settings import FileSpec
from tests.clips import write_clip
from tests.test_gui import clip, next_frame, open_window, store  # noqa: F401 - fixtures

TIMEOUT_MS = 60_000


def test_a_slow_stop_delays_the_next_session_instead_of_sharing_the_processor(qtbot, store, clip, tmp_path,  # noqa: F811
                                                                               monkeypatch):
    """Issue 30, item 14: the old session's ``finally`` closes the processor, so the next
    session may start only once the old one has ended. A stop limit of 1 ms makes every
    stop "slow": the thread is still running when the window gives up waiting."""
    other = write_clip(tmp_path / "other.mp4", frames=12, size=(320, 240), rate=Fraction(24), audio=())
    window = open_window(qtbot, store, FileSpec(clip))
    try:
        next_frame(qtbot, window)
        old = window.worker
        monkeypatch.setattr("app.gui.window.STOP_TIMEOUT_MS", 1)
        window.start_source(FileSpec(other))
        new = window.worker
        assert new is not old and window.source_spec == FileSpec(other)
        assert old.isRunning(), "the stop was slow: the old session still runs"
        assert not new.isRunning(), "a second session was started beside the one still using the processor"
        assert window.sessions.stopping is old
        qtbot.waitUntil(old.isFinished, timeout=TIMEOUT_MS)
        qtbot.waitUntil(new.isRunning, timeout=TIMEOUT_MS)
        assert window.sessions.stopping is None
        processed = next_frame(qtbot, window, after=time.perf_counter())
        assert processed.output.shape == (240, 320, 3), "the new session runs on an open processor"
        assert window.processor.chain is not None
    finally:
        monkeypatch.undo()  # the window's own stop limit for closing
        window.close()


def test_a_source_left_waiting_behind_a_slow_stop_is_closed_when_replaced(qtbot, store, clip, tmp_path,  # noqa: F811
                                                                          monkeypatch):
    """Two switches while the first session is still stopping: the one never started is
    dropped (its file closed), the last one chosen runs."""
    second = write_clip(tmp_path / "second.mp4", frames=12, size=(320, 240), rate=Fraction(24), audio=())
    third = write_clip(tmp_path / "third.mp4", frames=12, size=(320, 240), rate=Fraction(24), audio=())
    window = open_window(qtbot, store, FileSpec(clip))
    try:
        next_frame(qtbot, window)
        monkeypatch.setattr("app.gui.window.STOP_TIMEOUT_MS", 1)
        window.start_source(FileSpec(second))
        waiting = window.worker
        window.start_source(FileSpec(third))
        assert not waiting.isRunning() and not waiting.isFinished(), "never started"
        qtbot.waitUntil(lambda: window.worker.isRunning(), timeout=TIMEOUT_MS)
        assert window.source_spec == FileSpec(third)
        next_frame(qtbot, window, after=time.perf_counter())
    finally:
        monkeypatch.undo()  # the window's own stop limit for closing
        window.close()


def test_the_window_protects_the_file_it_plays_from_its_recording(qtbot, store, clip, tmp_path, monkeypatch):  # noqa: F811
    """A recording whose name happens to be the video file being played (a folder setting, a
    chosen name) is refused, and the file is left as it was: the window hands its own source
    to the recording as an input. A name beside it records."""
    import hashlib
    import shutil

    from PyQt6.QtCore import Qt

    played = Path(shutil.copy(clip, tmp_path / "played.mp4"))
    before = hashlib.sha256(played.read_bytes()).hexdigest()
    window = open_window(qtbot, store, FileSpec(played))
    try:
        next_frame(qtbot, window)
        target = [played]
        monkeypatch.setattr("app.gui.folders.recording_path", lambda *suffix: target[0])
        qtbot.keyClick(window, Qt.Key.Key_R)
        assert not window.outputs.record_button.isChecked(), "a recording over the file being played"
        assert "its own input" in window.outputs.status.text() + window.outputs.failed_now
        for _ in range(3):
            next_frame(qtbot, window)
        assert hashlib.sha256(played.read_bytes()).hexdigest() == before, "the played file is untouched"
        target[0] = tmp_path / "beside.mp4"
        qtbot.keyClick(window, Qt.Key.Key_R)
        assert window.outputs.record_button.isChecked(), window.outputs.status.text()
        for _ in range(5):  # a recording starts at its first cartoon frame: one painted frame may precede it
            next_frame(qtbot, window)
        qtbot.keyClick(window, Qt.Key.Key_R)
        assert target[0].is_file(), window.outputs.status.text()
    finally:
        window.close()
