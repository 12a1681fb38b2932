"""The window, offscreen: real widgets, a real video file as the camera, the real model.

Each check waits for frames processed *after* the change and compares them with what
the engine itself produces for the same input, so "takes effect" means the picture
really changed the way the control says.
"""

from __future__ import annotations

import shutil
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PyQt6.QtCore import QSettings, Qt

from app.gui.preview import PreviewMode
from app.gui.window import MainWindow
from app.live.settings import FileSpec
from dctnet.engine import Stylizer
from dctnet.styles import FILTER_STYLE, StyleRegistry
from tests.clips import write_clip

TIMEOUT_MS = 60_000
PIPELINE_THREADS = ("source-", "capture", "record", "pacer", "stream", "virtual")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("gui") / "clip.mp4", frames=24, size=(320, 240), rate=Fraction(24), audio=())


@pytest.fixture
def store(tmp_path) -> QSettings:
    settings = QSettings(str(tmp_path / "livetoon.ini"), QSettings.Format.IniFormat)
    for key, value in {"live/style": "toon-lite", "live/mode": "background", "live/stability": 0.0}.items():
        settings.setValue(key, value)
    return settings


def open_window(qtbot, store: QSettings, source: FileSpec | None, registry: StyleRegistry | None = None) -> MainWindow:
    window = MainWindow(store=store, source=source, registry=registry)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, store, clip):
    window = open_window(qtbot, store, FileSpec(clip))
    yield window
    window.close()


def next_frame(qtbot, window: MainWindow, after: float | None = None):
    """The first frame captured after ``after`` (default: now) that reached the preview."""
    after = time.perf_counter() if after is None else after
    found = []

    def arrived() -> bool:
        processed = window.last_processed
        if processed is not None and processed.frame.time >= after:  # live frames carry their arrival time
            found.append(processed)
            return True
        return False

    qtbot.waitUntil(arrived, timeout=TIMEOUT_MS)
    return found[0]


def engine_output(style: str, mode: str, image: np.ndarray) -> np.ndarray:
    stylizer = Stylizer.from_style(StyleRegistry().get(style), device="auto", mode=mode)  # as the window does
    return stylizer.stylize(image, [])


def test_frames_reach_the_preview(qtbot, window):
    qtbot.waitUntil(lambda: window.preview.frames_shown >= 3, timeout=TIMEOUT_MS)
    processed = next_frame(qtbot, window)
    assert processed.output.shape == (240, 320, 3)
    assert np.array_equal(processed.output, engine_output("toon-lite", "background", processed.frame.image))
    if not torch.cuda.is_available():
        assert window.device_label.text().startswith("device: cpu")
        assert "CUDA not used" in window.processing.device_status.text(), "the reason for the CPU fallback is shown"
    qtbot.waitUntil(lambda: "latency" in window.rate_label.text(), timeout=5000)
    assert "latency" in window.preview.overlay, "fps and latency are drawn over the preview"


def test_the_filter_style_runs_live_and_every_style_explains_itself(qtbot, window):
    combo = window.look.style_combo
    tips = {combo.itemText(i): combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count())}
    assert {"toon", "toon-lite", FILTER_STYLE} <= set(tips) and all(tips.values())
    combo.setCurrentText(FILTER_STYLE)
    assert combo.toolTip() == tips[FILTER_STYLE]
    processed = next_frame(qtbot, window, after=time.perf_counter() + 0.5)
    assert np.array_equal(processed.output, engine_output(FILTER_STYLE, "background", processed.frame.image))


def test_style_strength_mode_and_stability_take_effect(qtbot, window):
    next_frame(qtbot, window)
    window.look.style_combo.setCurrentText("toon")
    processed = next_frame(qtbot, window)
    assert np.array_equal(processed.output, engine_output("toon", "background", processed.frame.image)), "new style"

    window.look.strength_slider.setValue(0)
    processed = next_frame(qtbot, window)
    assert np.array_equal(processed.output, processed.frame.image), "strength 0 is the camera picture"
    window.look.strength_slider.setValue(50)
    processed = next_frame(qtbot, window)
    styled = engine_output("toon", "background", processed.frame.image).astype(int)
    halfway = (styled + processed.frame.image.astype(int)) / 2
    assert np.abs(processed.output - halfway).max() <= 1, "strength 0.5 blends half and half"
    window.look.strength_slider.setValue(100)

    window.look.mode_combo.setCurrentText("face")
    processed = next_frame(qtbot, window)
    corner = (slice(200, 240), slice(0, 40))  # background gradient, away from the moving face
    assert np.array_equal(processed.output[corner], processed.frame.image[corner]), "face mode leaves the background"
    window.look.mode_combo.setCurrentText("background")

    window.look.stability_slider.setValue(90)
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        processed = next_frame(qtbot, window)
        if not np.array_equal(processed.output, processed.styled):
            break
    assert not np.array_equal(processed.output, processed.styled), "stability blends in the warped history"
    assert window.processor.stabilizer.stability == pytest.approx(0.9)


def test_settings_survive_a_restart(qtbot, window, store, clip):
    window.look.style_combo.setCurrentText("toon")
    window.look.strength_slider.setValue(70)
    window.look.mirror_check.setChecked(True)
    window.set_preview_mode("split")
    window.close()
    again = open_window(qtbot, store, FileSpec(clip))
    try:
        settings = again.processor.settings
        assert (settings.style, settings.strength, settings.mirror, settings.mode) == ("toon", 0.7, True, "background")
        assert again.look.style_combo.currentText() == "toon" and again.look.strength_slider.value() == 70
        assert again.look.mirror_check.isChecked() and again.preview.mode is PreviewMode.SPLIT
        question = again.reset_settings()
        qtbot.mouseClick(question.button(question.StandardButton.Reset), Qt.MouseButton.LeftButton)
        assert again.processor.settings.style == "toon" and again.look.strength_slider.value() == 100
        assert not again.look.mirror_check.isChecked() and again.preview.mode is PreviewMode.OUTPUT
    finally:
        again.close()


def test_hotkeys_act(qtbot, window):
    next_frame(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.processor.settings.bypass
    processed = next_frame(qtbot, window)
    assert np.array_equal(processed.output, processed.frame.image), "bypass shows the camera picture"
    qtbot.keyClick(window, Qt.Key.Key_B)

    styles = [window.look.style_combo.itemText(i) for i in range(window.look.style_combo.count())]
    before = window.processor.settings.style
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert window.processor.settings.style == styles[(styles.index(before) + 1) % len(styles)]
    qtbot.keyClick(window, Qt.Key.Key_P)
    assert window.processor.settings.style == before

    qtbot.keyClick(window, Qt.Key.Key_Up)
    assert window.processor.settings.stability == pytest.approx(0.1)
    qtbot.keyClick(window, Qt.Key.Key_Down)
    assert window.processor.settings.stability == 0.0

    qtbot.keyClick(window, Qt.Key.Key_M)
    assert window.processor.settings.mirror
    bottom = next_frame(qtbot, window).frame.image[-8:].astype(float)
    assert bottom[:, :20].mean() > bottom[:, -20:].mean() + 50, "the clip's left-to-right ramp is mirrored"
    qtbot.keyClick(window, Qt.Key.Key_Tab)
    assert window.preview.mode is PreviewMode.SIDE_BY_SIDE and window.look.preview_combo.currentText() == "side by side"

    qtbot.keyClick(window, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: window.isFullScreen(), timeout=5000)
    assert not window.panel.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=5000)
    assert window.panel.isVisible()


def test_every_tab_fits_the_default_window_without_scrolling(qtbot, store):
    """Stacked in one column the panels pushed the outputs below the fold of 1280x760."""
    window = open_window(qtbot, store, None)
    window.resize(1280, 760)
    try:
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            qtbot.wait(20)
            scrolls = window.panel.verticalScrollBar().maximum(), window.panel.horizontalScrollBar().maximum()
            assert scrolls == (0, 0), f"tab {window.tabs.tabText(index)!r} scrolls by {scrolls}"
    finally:
        window.close()


def test_missing_virtual_camera_says_how_to_fix_it_and_the_app_runs_on(qtbot, window):
    if Path("/dev/video0").exists():
        pytest.skip("a video device exists here; the missing-backend path cannot be shown")
    next_frame(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_V)
    assert not window.outputs.vcam_button.isChecked()
    assert "modprobe v4l2loopback" in window.banner.command, "the fix-it's commands are one click away"
    next_frame(qtbot, window)  # still running


def test_recording_from_the_window(qtbot, window, tmp_path, monkeypatch):
    import av

    target = tmp_path / "rec.mp4"
    monkeypatch.setattr("app.gui.folders.recording_path", lambda: target)
    next_frame(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.outputs.record_button.isChecked()
    for _ in range(3):
        next_frame(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert "recorded" in window.outputs.status.text() and target.is_file()
    with av.open(str(target)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) >= 3 and frames[0].shape == (720, 1280, 3), "a recording holds the output size"


def test_closing_stops_every_thread_within_2s(qtbot, window):
    next_frame(qtbot, window)
    window.outputs.stream_url.setText("udp://127.0.0.1:9")  # discard port: nobody listens, sending still works
    window.outputs.stream_button.setChecked(True)
    assert window.outputs.stream_button.isChecked(), window.outputs.status.text()
    worker = window.worker
    started = time.perf_counter()
    window.close()
    took = time.perf_counter() - started
    assert took < 2.0, f"closing took {took:.2f} s"
    assert worker.isFinished()
    alive = [t.name for t in threading.enumerate() if t.name.startswith(PIPELINE_THREADS) and t.is_alive()]
    assert not alive, alive


def test_a_vanishing_source_shows_camera_lost_and_comes_back(qtbot, store, clip, tmp_path):
    moving = tmp_path / "camera.mp4"
    shutil.copy(clip, moving)
    window = open_window(qtbot, store, FileSpec(moving))
    try:
        next_frame(qtbot, window)
        hidden = moving.rename(tmp_path / "unplugged.mp4")  # the loop's next reopen fails
        qtbot.waitUntil(lambda: "camera lost" in window.preview.message, timeout=TIMEOUT_MS)
        assert "lost" in window.source_label.text()
        hidden.rename(moving)
        qtbot.waitUntil(lambda: window.preview.message == "", timeout=TIMEOUT_MS)
        next_frame(qtbot, window)
    finally:
        window.close()


def test_get_more_styles_adds_what_it_installs_to_the_picker(qtbot, store, clip, tmp_path):
    from app.gui.get_styles_dialog import GetStylesDialog

    window = open_window(qtbot, store, FileSpec(clip), registry=StyleRegistry(user=tmp_path / "styles"))
    try:
        window.get_more_styles()
        dialog = window.findChild(GetStylesDialog)
        assert dialog is not None and dialog.isVisible()
        head, bg, _ = window.registry.get("toon-lite").load()
        window.registry.install("fresh", head, bg, {"origin": "test"})  # what a finished download does
        dialog.styleInstalled.emit("fresh")
        assert "fresh" in [window.look.style_combo.itemText(i) for i in range(window.look.style_combo.count())]
        dialog.close()
    finally:
        window.close()
