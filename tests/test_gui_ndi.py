"""The window's NDI toggle and transparent outputs, offscreen: real widgets, a real clip as the camera.

The NDI source's reception by a real receiver is shown end to end in ``tests/test_ndi.py``
(a receiver in the same process as the sender is not found reliably by the NDI runtime);
here the window's side: the toggle opens an NDI source fed BGRA frames, says so in the
outputs' status, shows the NDI badge, remembers the name; with a transparent background
a recording keeps the alpha (.webm) while the stream runs on (with the key colour).
"""

from __future__ import annotations

import importlib.util
import time

import pytest

from app.live.ndi import INSTALL_HINT, NdiSink
from app.live.settings import OutputSettings
from app.gui import settings_store
from tests.alpha_frames import decode_bgra
from tests.test_gui import TIMEOUT_MS, clip, next_frame, store, window  # noqa: F401 - fixtures
from tests.test_gui_background import choose
from tests.ndi_receiver import ndi_env  # noqa: F401 - fixture: the NDI runtime's one configuration per process
from tests.test_window_streamer import DISCARD_URL

SMALL = OutputSettings(640, 360, 15.0)


@pytest.mark.skipif(importlib.util.find_spec("cyndilib") is None, reason=f"NDI needs the optional extra: {INSTALL_HINT}")
def test_ndi_toggle_sends_bgra_says_so_and_remembers_the_name(ndi_env, qtbot, window, store):
    window.outputs.load(SMALL)
    window.outputs.ndi_name.setText(f"livetoon-gui-{time.monotonic_ns()}")
    next_frame(qtbot, window)
    window.outputs.ndi_button.click()
    sink = window.sinks.get("ndi")
    assert isinstance(sink, NdiSink) and sink.carries_alpha
    assert store.value("window/ndi_name") == window.outputs.ndi_name.text()
    qtbot.waitUntil(lambda: sink.pacer.frames_out >= 15, timeout=TIMEOUT_MS)
    window.outputs.refresh()
    status = window.outputs.status.text()
    assert f"NDI: '{window.outputs.ndi_name.text()}' (640x360 @ 15 fps, BGRA with alpha)" in status, status
    assert "NDI" in window.preview.on_air.badges and "NDI on" in window.outputs.ndi_button.text()
    window.outputs.ndi_button.click()
    assert window.sinks.get("ndi") is None and sink.error is None
    assert "NDI" not in window.preview.on_air.badges


def test_transparent_records_alpha_beside_the_stream(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setattr("app.gui.folders.recording_path", lambda suffix=".mp4": tmp_path / f"rec{suffix}")
    window.outputs.load(SMALL)
    window.outputs.stream_url.setText(DISCARD_URL)
    choose(window, "transparent")
    assert window.outputs.transparent
    window.outputs.stream_button.click()
    window.outputs.record_button.click()
    recording = window.sinks.get("record")
    assert recording.carries_alpha and recording.path == tmp_path / "rec.webm"
    qtbot.waitUntil(lambda: recording.pacer.frames_out >= 10, timeout=TIMEOUT_MS)
    window.outputs.record_button.click()
    window.outputs.stream_button.click()
    assert recording.saved == tmp_path / "rec.webm", recording.status
    frames = decode_bgra(recording.saved)
    assert len(frames) >= 10 and frames[-1].shape == (360, 640, 4)
    alpha = frames[-1][..., 3]
    assert alpha[:, :40].max() <= 8, "the letterbox bars are transparent"
    assert alpha.max() >= 250, "the person is opaque"

    choose(window, "keep")
    assert not window.outputs.transparent
    assert settings_store.load_live_settings(window.store).background == "keep"
