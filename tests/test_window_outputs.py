"""The outputs' size and rate in the window (issue 18): set with the real combos, remembered
in a real settings file across a restart, and carried by what the sinks really write:
a recording decoded back with PyAV and a stream decoded by a real reader on a UDP port.
"""

from __future__ import annotations

import av
import numpy as np
import pytest
from PyQt6.QtWidgets import QComboBox

from app.live.settings import FileSpec, OutputSettings
from tests.test_gui import clip, next_frame, open_window, store, window  # noqa: F401 - fixtures
from tests.test_sinks import listening_reader


def pick(combo: QComboBox, text: str) -> None:
    """What a click on the item does: select it and emit ``activated``."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not offered: {[combo.itemText(i) for i in range(combo.count())]}"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def recorded(path) -> tuple[set[tuple[int, int]], float, int]:
    """(frame sizes, median time between frames, frame count) of a recording, read back from the file."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return {(f.width, f.height) for f in frames}, float(np.median(np.diff([f.time for f in frames]))), len(frames)


def test_output_size_and_rate_are_set_in_the_window_remembered_and_recorded(qtbot, window, store, clip,  # noqa: F811
                                                                             tmp_path, monkeypatch):
    outputs = window.outputs
    assert (outputs.size_combo.currentText(), outputs.fps_combo.currentText()) == ("1280x720", "30 fps")
    pick(outputs.size_combo, "640x360")
    pick(outputs.fps_combo, "15 fps")
    assert outputs.settings == OutputSettings(640, 360, 15.0)

    target = tmp_path / "rec.mp4"
    monkeypatch.setattr("app.gui.folders.recording_path", lambda: target)
    next_frame(qtbot, window)
    outputs.record_button.setChecked(True)
    assert outputs.record_button.isChecked(), outputs.status.text()
    assert not outputs.size_combo.isEnabled() and not outputs.fps_combo.isEnabled(), "locked while on air"
    assert "640x360 @ 15 fps" in outputs.status.text(), outputs.status.text()
    assert window.tabs.tabText(window.tabs.count() - 1) == "Outputs (1 on)", "seen from whichever tab is open"
    qtbot.wait(1500)
    outputs.record_button.setChecked(False)
    assert outputs.size_combo.isEnabled() and outputs.fps_combo.isEnabled()
    assert window.tabs.tabText(window.tabs.count() - 1) == "Outputs"
    sizes, period, frames = recorded(target)
    # 15 fps, not the 30 of before nor another rate (how exactly is benchmarks/pacing.py's to measure)
    assert sizes == {(640, 360)} and period == pytest.approx(1 / 15, rel=0.2) and frames >= 10, (sizes, period, frames)
    window.close()

    again = open_window(qtbot, store, FileSpec(clip))
    try:
        outputs = again.outputs
        assert (outputs.size_combo.currentText(), outputs.fps_combo.currentText()) == ("640x360", "15 fps")
        assert outputs.settings == OutputSettings(640, 360, 15.0), "remembered across a restart"

        reader = listening_reader()
        outputs.stream_url.setText(f"udp://127.0.0.1:{reader.port}")
        next_frame(qtbot, again)
        outputs.stream_button.setChecked(True)
        assert outputs.stream_button.isChecked(), outputs.status.text()
        qtbot.wait(3000)  # the reader joins at a key frame, one a second
        outputs.stream_button.setChecked(False)
        reader.join(15)
        assert reader.frames, f"nothing decoded ({reader.error!r})"
        assert {(frame.width, frame.height) for _, frame, _ in reader.frames} == {(640, 360)}
        gaps = np.diff([frame.time for _, frame, _ in reader.frames])
        assert np.median(gaps) == pytest.approx(1 / 15, rel=0.2), f"frame times {gaps}"  # 15 fps, not 30

        question = again.reset_settings()
        question.button(question.StandardButton.Reset).click()
        assert again.outputs.settings == OutputSettings()
        assert (outputs.size_combo.currentText(), outputs.fps_combo.currentText()) == ("1280x720", "30 fps")
    finally:
        again.close()


def test_a_saved_size_off_the_list_is_shown_and_kept_and_a_broken_one_falls_back(qtbot, store, clip):  # noqa: F811
    store.setValue("output/size", "1600x900")
    store.setValue("output/fps", 20)
    window = open_window(qtbot, store, FileSpec(clip))
    try:
        outputs = window.outputs
        assert (outputs.size_combo.currentText(), outputs.fps_combo.currentText()) == ("1600x900", "20 fps")
        assert outputs.settings == OutputSettings(1600, 900, 20.0)
    finally:
        window.close()
    store.setValue("output/size", "wide")
    window = open_window(qtbot, store, FileSpec(clip))
    try:
        assert window.outputs.settings == OutputSettings(), "a hand-edited value never stops the window opening"
    finally:
        window.close()
