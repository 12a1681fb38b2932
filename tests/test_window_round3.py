"""The window, round 3 (issue 27 item 8 and 7): offscreen real widgets on a real clip, and the
close button through a real X server (Xvfb, the ``WM_DELETE_WINDOW`` a window manager sends)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QObject, Qt, QTimer, QUrl, pyqtSlot
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import QFileDialog

from app.gui.panels.background import FILE
from app.live.settings import FileSpec
from tests.test_gui import clip, next_frame, open_window, store, window  # noqa: F401 - fixtures
from tests.test_gui_background import choose
from tests.xserver import close_window, find_window, xvfb

DISCARD_URL = "udp://127.0.0.1:9"


def test_the_background_picture_is_remembered_across_other_backgrounds_and_restarts(
        qtbot, store, clip, tmp_path, monkeypatch):
    picture = tmp_path / "beach.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), (40, 160, 220), np.uint8))
    asked: list[str] = []

    def dialog(*args, **kwargs):
        asked.append("asked")
        return str(picture), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", dialog)
    first = open_window(qtbot, store, FileSpec(clip))
    try:
        choose(first, FILE)
        assert asked == ["asked"] and first.processor.settings.background == str(picture)
        choose(first, "blur")
    finally:
        first.close()
    again = open_window(qtbot, store, FileSpec(clip))
    try:
        assert again.processor.settings.background == "blur"
        choose(again, FILE)
        assert asked == ["asked"], "the remembered picture is taken, no dialog"
        assert again.processor.settings.background == str(picture)
        assert again.background.file_label.text() == "beach.png"
    finally:
        again.close()


def test_the_video_dialog_opens_in_the_recordings_folder_made_when_missing(qtbot, window, tmp_path, monkeypatch):
    from app.gui.folders import recording_path

    monkeypatch.setenv("HOME", str(tmp_path))  # a fresh account: no ~/Videos
    assert not (tmp_path / "Videos").exists()
    folder = Path(window.source.open_dialog().directory().absolutePath())
    assert folder == tmp_path / "Videos" and folder.is_dir(), folder
    assert recording_path().parent == folder, "the same folder as recordings"


def test_v_says_why_the_virtual_camera_did_not_start(qtbot, window):
    if Path("/dev/video0").exists():
        pytest.skip("a video device exists here; the missing-backend path cannot be shown")
    next_frame(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_V)
    note = window.preview.on_air.note_showing
    assert note.startswith("virtual camera unavailable (") and note != "virtual camera off", note


class FolderOpener(QObject):
    """Where *Open folder* sends the user: Qt's own URL routing, caught instead of starting a file manager."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[QUrl] = []

    @pyqtSlot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url)


def test_recorded_stays_until_dismissed_with_open_folder(qtbot, window, tmp_path, monkeypatch):
    target = tmp_path / "rec.mp4"
    monkeypatch.setattr("app.gui.folders.recording_path", lambda *suffix: target)
    outputs = window.outputs
    next_frame(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_R)
    next_frame(qtbot, window)
    next_frame(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert target.is_file() and f"to {target}" in outputs.status.text()
    outputs.stream_url.setText(DISCARD_URL)
    qtbot.keyClick(window, Qt.Key.Key_S)
    qtbot.keyClick(window, Qt.Key.Key_S)
    assert f"to {target}" in outputs.status.text(), "switching another output keeps where the file went"
    assert outputs.saved_row.isVisibleTo(outputs)
    opener = FolderOpener()
    QDesktopServices.setUrlHandler("file", opener, "open")
    try:
        qtbot.mouseClick(outputs.open_folder_button, Qt.MouseButton.LeftButton)
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(url.toLocalFile()) for url in opener.opened] == [tmp_path]
    dismiss = [b for b in outputs.saved_row.findChildren(type(outputs.open_folder_button)) if b.text() == "Dismiss"][0]
    qtbot.mouseClick(dismiss, Qt.MouseButton.LeftButton)
    assert "recorded" not in outputs.status.text() and not outputs.saved_row.isVisibleTo(outputs)


def test_closing_with_an_output_on_asks_first_and_close_finishes_the_recording(qtbot, window, tmp_path, monkeypatch):
    target = tmp_path / "rec.mp4"
    monkeypatch.setattr("app.gui.folders.recording_path", lambda *suffix: target)
    next_frame(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_R)
    next_frame(qtbot, window)
    question = window.ask_before_closing()
    assert question.isVisible() and question.text().startswith("On now: record. Close LiveToon and stop it?"), question.text()
    qtbot.mouseClick(question.button(question.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert window.isVisible() and window.outputs.record_button.isChecked()
    question = window.ask_before_closing()
    qtbot.mouseClick(question.button(question.StandardButton.Close), Qt.MouseButton.LeftButton)
    assert not window.isVisible() and target.is_file(), "closed, the recording finished and kept"


WINDOW_WITH_STREAM = """
import sys
from pathlib import Path
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from app.gui.window import MainWindow
from app.live.settings import FileSpec
store = QSettings(sys.argv[2], QSettings.Format.IniFormat)
store.setValue("live/style", "toon-lite")
window = MainWindow(store=store, source=FileSpec(Path(sys.argv[1])))
window.show()
window.outputs.stream_url.setText("udp://127.0.0.1:9")
window.outputs.stream_button.setChecked(True)
print("streaming" if window.outputs.stream_button.isChecked() else "not streaming", flush=True)
sys.exit(app.exec())
"""


def test_the_close_button_asks_first_while_streaming(clip, tmp_path):
    with xvfb() as server:
        env = {**os.environ, **server.env(), "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(Path(__file__).parents[1])}
        process = subprocess.Popen([sys.executable, "-c", WINDOW_WITH_STREAM, str(clip), str(tmp_path / "s.ini")],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert process.stdout.readline().strip() == "streaming"
            close_window(server, find_window(server, process.pid, "LiveToon"))
            find_window(server, process.pid, "Close LiveToon", timeout=20)
            time.sleep(0.5)
            assert process.poll() is None, "the window stays until the question is answered"
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_at_700x420_the_status_bar_keeps_the_rate_and_no_tab_scrolls_sideways(qtbot, store, tmp_path, clip):
    long_name = tmp_path / ("a-clip-with-a-long-name-from-the-phone-" * 2 + ".mp4")
    long_name.write_bytes(clip.read_bytes())
    window = open_window(qtbot, store, FileSpec(long_name))
    try:
        window.resize(700, 420)
        next_frame(qtbot, window)
        qtbot.waitUntil(lambda: "source" in window.rate_label.text(), timeout=5000)
        qtbot.wait(50)
        assert window.width() == 700
        rate = window.rate_label
        assert rate.width() >= rate.sizeHint().width(), f"{rate.text()!r} cut: {rate.width()} < {rate.sizeHint().width()}"
        assert window.source_label.toolTip() == window.source_label.text(), "a shortened source line is whole on hover"
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            qtbot.wait(20)
            assert window.panel.horizontalScrollBar().maximum() == 0, f"tab {window.tabs.tabText(index)!r} scrolls sideways"
    finally:
        window.close()


def test_no_camera_card_has_an_open_button_and_the_device_box_says_why_cpu(qtbot, store, clip):
    from PyQt6.QtWidgets import QApplication, QLineEdit

    from app.live.cameras import list_cameras

    if list_cameras():
        pytest.skip("a camera is attached here; the no-camera state cannot be shown")
    window = open_window(qtbot, store, None)
    try:
        button = window.preview.action_button
        assert button.isVisible() and button.text() == "Open video file..."
        middle = window.preview.rect().center()
        assert button.geometry().top() > middle.y() and abs(button.geometry().center().x() - middle.x()) <= 1
        device = window.processing
        assert device.device_combo.currentText().startswith("auto (") and device.device_status.isVisibleTo(device)
        assert device.device_status.text().startswith(("cpu (", "cuda (")), device.device_status.text()

        def pick_the_clip() -> None:  # as a user does: type the file's path, press Open
            dialog = QApplication.activeModalWidget()
            dialog.findChild(QLineEdit, "fileNameEdit").setText(str(clip))
            dialog.accept()

        QTimer.singleShot(300, pick_the_clip)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # the dialog runs until the timer picks the clip
        next_frame(qtbot, window)
        assert window.source_spec == FileSpec(clip) and not button.isVisible()
    finally:
        window.close()


def test_the_offline_note_moves_nothing_and_is_said_once(qtbot, tmp_path, clip, monkeypatch):
    from PyQt6.QtCore import QPoint, QSettings

    from app.gui import first_run
    from dctnet.styles import StyleRegistry
    from tests.test_first_run import open_window as open_first_run_window

    monkeypatch.setenv("LIVETOON_HUB_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: offline
    monkeypatch.setenv("LIVETOON_DATA_DIR", str(tmp_path / "data"))  # only the built-in styles
    monkeypatch.setattr(first_run, "OFFLINE_NOTE_MS", 60_000)
    store = QSettings(str(tmp_path / "livetoon.ini"), QSettings.Format.IniFormat)
    store.setValue("live/style", "toon-lite")
    window = open_first_run_window(qtbot, store, StyleRegistry())
    try:
        offer = window.styles_offer
        qtbot.waitUntil(offer.isVisible, timeout=30_000)
        bar = window.tabs.tabBar()
        with_note = bar.mapTo(window, QPoint(0, 0)), window.look.style_combo.mapTo(window, QPoint(0, 0))
        assert offer.mapTo(window, QPoint(0, 0)).y() > bar.mapTo(window, QPoint(0, 0)).y(), "under the tabs"
        offer.hide()  # what its timer does
        qtbot.wait(50)
        assert (bar.mapTo(window, QPoint(0, 0)), window.look.style_combo.mapTo(window, QPoint(0, 0))) == with_note
    finally:
        window.close()
    again = open_first_run_window(qtbot, store, StyleRegistry())
    try:
        qtbot.wait(3000)  # the probe fails within a moment (connection refused)
        assert not again.styles_offer.isVisible(), "said once, not at every start"
    finally:
        again.close()


def test_the_styles_dialog_offline_lays_its_message_out_under_the_list(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVETOON_DATA_DIR", str(tmp_path / "data"))  # 'anime' not installed
    dialog = window.get_more_styles()
    dialog.download(["anime"])
    qtbot.waitUntil(lambda: not dialog.busy and "cannot reach" in dialog.status.text(), timeout=30_000)
    qtbot.wait(50)
    shown = [w for w in (dialog.list, dialog.progress, dialog.status, dialog.notes, dialog.buttons) if w.isVisible()]
    for upper, lower in zip(shown, shown[1:]):
        assert upper.geometry().bottom() < lower.geometry().top(), f"{type(upper).__name__} overlaps {type(lower).__name__}"
    assert dialog.status.height() >= dialog.status.heightForWidth(dialog.status.width()), "the whole message shows"
    dialog.close()
