"""The window's Model fps control: it changes the running pipeline and is remembered."""

from __future__ import annotations

import time

import numpy as np

from app.live.settings import FileSpec
from tests.test_gui import TIMEOUT_MS, clip, engine_output, next_frame, open_window, store, window  # noqa: F401


def test_model_fps_switches_to_carried_frames_and_back_and_is_remembered(qtbot, window, store, clip):  # noqa: F811
    combo = window.processing.model_fps_combo
    assert combo.currentData() == "every"
    combo.setCurrentIndex(combo.findData("2"))
    combo.activated.emit(combo.currentIndex())
    assert window.processor.settings.model_fps == "2"
    carried = []

    def some_carried() -> bool:
        processed = window.last_processed
        if processed is not None and processed.propagated:
            carried.append(processed)
        return len(carried) >= 3

    qtbot.waitUntil(some_carried, timeout=TIMEOUT_MS)
    combo.setCurrentIndex(combo.findData("every"))
    combo.activated.emit(combo.currentIndex())
    processed = next_frame(qtbot, window, after=time.perf_counter() + 0.5)
    assert not processed.propagated
    assert np.array_equal(processed.output, engine_output("toon-lite", "background", processed.frame.image))
    combo.setCurrentIndex(combo.findData("auto"))
    combo.activated.emit(combo.currentIndex())
    window.close()
    again = open_window(qtbot, store, FileSpec(clip))
    try:
        assert again.processor.settings.model_fps == "auto" and again.processing.model_fps_combo.currentData() == "auto"
    finally:
        again.close()
