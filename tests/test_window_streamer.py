"""The window as a streamer meets it (issue 20), offscreen: real widgets, a real clip as the camera.

On-air badges and notes are checked in the painted preview too, not only in the
widget's state: a badge that is set but never drawn would not help anyone.
"""

from __future__ import annotations

import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PyQt6.QtCore import QPoint, QSettings, Qt
from PyQt6.QtWidgets import QApplication

from app.live.sinks import virtual_camera_fix
from app.live.settings import FileSpec
from tests.clips import write_clip
from tests.qimages import rgb_array
from tests.test_gui import clip, next_frame, open_window, store, window  # noqa: F401 - fixtures

DISCARD_URL = "udp://127.0.0.1:9"  # nobody listens; sending still works


def painted(widget) -> np.ndarray:
    """The widget as drawn, RGB."""
    return rgb_array(widget.grab().toImage())


def red_badge_drawn(window) -> bool:
    top_right = painted(window.preview)[:60, -260:].astype(int)
    red = (top_right[..., 0] > 170) & (top_right[..., 1] < 90) & (top_right[..., 2] < 90)
    return int(red.sum()) > 100


def test_on_air_badges_hotkey_notes_and_the_bypass_label(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setattr("app.gui.folders.recording_path", lambda: tmp_path / "rec.mp4")
    window.outputs.stream_url.setText(DISCARD_URL)
    next_frame(qtbot, window)
    assert window.preview.on_air.badges == [] and not red_badge_drawn(window)

    qtbot.keyClick(window, Qt.Key.Key_S)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.outputs.stream_button.isChecked() and window.outputs.record_button.isChecked(), window.outputs.status.text()
    assert "LIVE" in window.outputs.stream_button.text() and "REC" in window.outputs.record_button.text()
    assert window.preview.on_air.badges == ["LIVE", "REC"]
    assert window.preview.on_air.note_showing == "recording on"
    next_frame(qtbot, window)
    assert red_badge_drawn(window), "the LIVE/REC badges are painted at the preview's top right"

    before = window.processor.settings.style
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert window.preview.on_air.note_showing == f"style: {window.processor.settings.style}" != f"style: {before}"
    qtbot.keyClick(window, Qt.Key.Key_Up)
    assert window.preview.on_air.note_showing == "stability 0.1"
    qtbot.waitUntil(lambda: window.preview.on_air.note_showing == "", timeout=3000)
    assert window.preview.on_air.note_until - time.monotonic() < 0, "the note fades after about 2 s"

    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.preview.on_air.note_showing == "bypass on"
    assert window.preview.output_label == "bypass" and "BYPASS" in window.preview.on_air.badges
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.preview.output_label == "cartoon"

    qtbot.keyClick(window, Qt.Key.Key_S)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.preview.on_air.badges == [] and window.outputs.stream_button.text() == "Stream (S)"


def test_fix_it_banner_over_the_preview_goes_when_another_output_starts(qtbot, window):
    if Path("/dev/video0").exists():
        pytest.skip("a video device exists here; the missing-backend path cannot be shown")
    next_frame(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_V)
    banner = window.banner
    assert not window.outputs.vcam_button.isChecked() and banner.isVisible()
    assert banner.text.text().startswith("virtual camera unavailable (") and banner.text.text().endswith(".)")
    assert "modprobe" in banner.toolTip(), "the whole text is one hover away"
    assert "\n" not in banner.text.text() and "modprobe" not in banner.text.text(), "one line: the reason"
    assert banner.geometry().bottom() <= window.preview.geometry().top(), "the banner sits above the picture"
    assert banner.steps.isVisible() and "modprobe v4l2loopback" in banner.steps.text(), "the steps read without hovering"
    qtbot.mouseClick(banner.copy_button, Qt.MouseButton.LeftButton)
    copied = QApplication.clipboard().text()
    commands = virtual_camera_fix().commands
    assert copied.split(" && ") == commands and commands[-1] == "sudo usermod -aG video $USER", copied
    assert subprocess.run(["bash", "-n", "-c", copied]).returncode == 0, "the pasted line parses as a shell command"
    assert all(f"{n}. " in banner.steps.text() for n in (1, 2, 3, 4)) and all(
        command in banner.steps.text() for command in commands), "numbered steps, with the same commands"
    assert banner.copy_button.text() == "Copied"
    qtbot.waitUntil(lambda: banner.copy_button.text() == "Copy command", timeout=4000)
    assert window.outputs.status.text().count("\n") == 0, "the side panel keeps one line"

    window.outputs.stream_url.setText(DISCARD_URL)
    qtbot.keyClick(window, Qt.Key.Key_S)
    assert window.outputs.stream_button.isChecked() and not banner.isVisible(), "an output that starts fine ends the fix-it"
    qtbot.keyClick(window, Qt.Key.Key_V)
    assert banner.isVisible()
    qtbot.mouseClick(banner.dismiss_button, Qt.MouseButton.LeftButton)
    assert not banner.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_S)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA works here: the CPU-only refusal cannot be shown")
def test_cuda_on_a_cpu_build_keeps_the_combo_true_to_what_runs(qtbot, store, clip):
    store.setValue("live/device", "cuda")  # saved on a machine that had CUDA
    window = open_window(qtbot, store, FileSpec(clip))
    try:
        next_frame(qtbot, window)
        combo = window.processing.device_combo
        assert combo.currentData() == "auto" and window.processor.settings.device == "auto"
        qtbot.waitUntil(lambda: combo.currentText() == "auto (cpu)", timeout=10_000)
        assert "CUDA not used: this PyTorch build" in window.processing.device_status.text()
        combo.setCurrentIndex(combo.findData("cuda"))
        combo.activated.emit(combo.currentIndex())  # what a click on the item does
        assert combo.currentText() == "auto (cpu)" and window.processor.settings.device == "auto"
        assert window.processing.device_status.text().startswith("CUDA cannot be used, so the CPU stays on: this PyTorch build")
        assert window.processing.device_status.wordWrap()
        assert not window.banner.isVisible() and window.statusBar().currentMessage() == "", "one place only"
        processed = next_frame(qtbot, window)
        assert not np.array_equal(processed.output, processed.frame.image), "the style keeps running"
    finally:
        window.close()


def test_sliders_show_their_value_and_jump_where_clicked_url_is_labelled_open_starts_in_videos(qtbot, window):
    from app.gui.folders import videos_folder

    stability = window.look.stability_slider
    assert stability.value_label.text() == "0.00" and window.look.strength_slider.value_label.text() == "100%"
    qtbot.keyClick(window, Qt.Key.Key_Up)
    assert stability.value_label.text() == "0.10"
    window.reset_settings_now()
    assert stability.value_label.text() == f"{window.processor.settings.stability:.2f}", "loaded values show too"

    stability.setValue(0)
    qtbot.mouseClick(stability, Qt.MouseButton.LeftButton, pos=QPoint(stability.width() * 3 // 4, stability.height() // 2))
    assert 65 <= stability.value() <= 85, f"a click at 3/4 of the track gives about 0.75, not one page: {stability.value()}"
    assert window.processor.settings.stability == stability.value() / 100

    form = window.outputs.stream_url.parentWidget().layout()
    url_label = [form.itemAt(i).layout() for i in range(form.count()) if form.itemAt(i).layout()][0].labelForField(window.outputs.stream_url)
    assert url_label is not None and url_label.text() == "Stream URL"

    folder = Path(window.source.open_dialog().directory().absolutePath())
    assert folder == videos_folder() and folder.is_dir() and folder != Path.cwd()


def test_size_and_place_are_remembered_reset_asks_first_and_the_window_shrinks(qtbot, window, store, clip):
    window.resize(700, 500)  # within the offscreen screen (800x600): restoring keeps a window on screen
    window.move(40, 30)
    place = window.pos()
    window.source.camera_mode_combo.setCurrentIndex(3)
    window.source.camera_mode_combo.activated.emit(3)
    window.look.style_combo.setCurrentText("toon")
    window.close()
    again = open_window(qtbot, store, FileSpec(clip))
    try:
        assert (again.width(), again.height()) == (700, 500) and again.pos() == place
        assert again.source.camera_mode_combo.currentIndex() == 3

        question = again.reset_settings()
        assert question.isVisible() and again.processor.settings.style == "toon", "nothing reset before the answer"
        qtbot.mouseClick(question.button(question.StandardButton.Cancel), Qt.MouseButton.LeftButton)
        assert again.processor.settings.style == "toon" and again.source.camera_mode_combo.currentIndex() == 3
        question = again.reset_settings()
        qtbot.mouseClick(question.button(question.StandardButton.Reset), Qt.MouseButton.LeftButton)
        assert again.source.camera_mode_combo.currentIndex() == 1 and again.look.strength_slider.value() == 100

        again.resize(640, 480)
        qtbot.waitUntil(lambda: again.width() <= 660, timeout=5000)
        assert again.panel.isVisible() and again.preview.width() >= 320
    finally:
        again.close()


def test_no_camera_is_said_in_the_combo_and_status_bar_and_the_mode_is_off(qtbot, store, clip):
    from app.live.cameras import list_cameras

    if list_cameras():
        pytest.skip("a camera is attached here; the no-camera state cannot be shown")
    window = open_window(qtbot, store, None)  # what `livetoon gui` does: the last source, else the first camera
    try:
        assert window.source.source_combo.currentText() == "No camera found"
        assert not window.source.source_combo.model().item(0).isEnabled(), "not a choice that could be picked"
        assert not window.source.camera_mode_combo.isEnabled()
        assert window.device_label.text() == "No camera found: open a video file"
        assert window.worker is None and "No camera found" in window.preview.message
        window.start_source(FileSpec(clip))
        next_frame(qtbot, window)
        assert window.source.source_combo.currentText() == f"File: {clip.name}"
    finally:
        window.close()


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("hd") / "hd.mp4", frames=60, size=(1280, 720), rate=Fraction(30), audio=())


def test_first_run_picks_settings_that_run_well_here_and_says_so(qtbot, tmp_path, clip_720p):
    fresh = QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat)  # a new user: nothing saved
    window = open_window(qtbot, fresh, FileSpec(clip_720p))
    try:
        assert "Choosing settings" in window.preview.message and window.worker is None, "timing first, alone"
        qtbot.waitUntil(window.banner.isVisible, timeout=240_000)  # each candidate runs seconds, as the window would
        settings, line = window.processor.settings, window.banner.text.text()
        assert window.look.style_combo.currentText() == settings.style and window.processing.size_combo.currentData() == settings.max_size
        if torch.cuda.is_available():
            assert (settings.style, settings.max_size) == ("toon", 720) and line.startswith("GPU found")
        else:
            assert line.startswith(f"No GPU: chose {settings.style} at {settings.max_size}p") and line == window.fit.reason
            assert settings.model_fps == window.fit.model_fps
        assert fresh.value("live/style") == settings.style, "kept: the next start is no first run"
        assert int(fresh.value("live/max_size")) == settings.max_size and fresh.value("live/model_fps") == settings.model_fps
        qtbot.waitUntil(lambda: window.worker is not None, timeout=60_000)
        processed = next_frame(qtbot, window)
        assert processed.output.shape == (720, 1280, 3), "then the session runs, with the chosen settings"
        assert window.processor.settings.style == settings.style
        # Whether the window then shows the promised rate is measured by benchmarks/first_run_fit.py.
    finally:
        window.close()


def test_closing_during_the_first_run_timing_ends_it_first(qtbot, tmp_path, clip_720p):
    """A timing thread left inside torch at exit aborted the process ("terminate called
    without an active exception", exit 134) instead of quitting."""
    fresh = QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat)
    window = open_window(qtbot, fresh, FileSpec(clip_720p))
    fitting = [thread for thread in threading.enumerate() if thread.name == "fit-defaults"]
    assert fitting and "Choosing settings" in window.preview.message
    qtbot.wait(300)  # inside the timing now
    window.close()
    assert not any(thread.is_alive() for thread in fitting), "the window closed with the timing still running"
    assert not window.banner.isVisible() and window.worker is None, "nothing chosen, nothing started"


def test_styles_dialog_describes_each_style_imports_a_folder_and_links_the_manual_fix(qtbot, store, tmp_path):
    from safetensors.torch import save_file

    from dctnet.hub import OFFICIAL_STYLES
    from dctnet.styles import StyleRegistry

    window = open_window(qtbot, store, None, registry=StyleRegistry(user=tmp_path / "styles"))
    try:
        dialog = window.get_more_styles()
        texts = [dialog.list.item(row).text() for row in range(dialog.list.count())]
        assert len(texts) == len(OFFICIAL_STYLES) and all(": " in text and len(text) > 20 for text in texts), texts

        dialog.download(["anime"])  # conftest points the hub at a closed local port
        assert "Tick" not in dialog.status.text() and dialog.status.text().startswith("Starting the download of anime")
        qtbot.waitUntil(lambda: dialog.worker is None, timeout=30_000)
        assert '<a href="https://' in dialog.status.text(), f"the model page is a link: {dialog.status.text()}"
        assert dialog.status.openExternalLinks()

        folder = tmp_path / "by-hand"
        folder.mkdir()
        head, bg, _ = window.registry.get("toon-lite").load()
        save_file(head, str(folder / "head.safetensors"))
        save_file(bg, str(folder / "bg.safetensors"))
        for row in range(dialog.list.count()):
            dialog.list.item(row).setCheckState(Qt.CheckState.Unchecked)
        sketch = next(dialog.list.item(r) for r in range(dialog.list.count()) if dialog.list.item(r).text().startswith("sketch"))
        sketch.setCheckState(Qt.CheckState.Checked)
        assert dialog.import_button.isEnabled()
        dialog.import_folder(folder)
        assert dialog.status.text() == "Installed 'sketch'."
        assert "sketch" in [window.look.style_combo.itemText(i) for i in range(window.look.style_combo.count())]
        assert any(dialog.list.item(r).text().startswith("sketch: ") and "\ninstalled, " in dialog.list.item(r).text()
                   for r in range(dialog.list.count()))
        dialog.close()
    finally:
        window.close()
