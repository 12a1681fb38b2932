"""The window's "Model fps" control: how often the model runs (app.live.pipeline).

``every``: the model on every frame it can take, only those are shown (the classic
pipeline). ``auto``: the model as fast as it can, every camera frame shown, carried
along the motion from the newest model frame. A number caps the model, to leave
GPU or CPU to a game while the output keeps the camera's rate.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtWidgets import QComboBox

from app.live.settings import AUTO, EVERY_FRAME, MODEL_FPS_HELP

CHOICES = ((EVERY_FRAME, "Every frame"), (AUTO, "Auto (full frame rate)"), ("30", "30"), ("15", "15"),
           ("10", "10"), ("5", "5"), ("2", "2"))


def model_fps_combo(on_change: Callable[[str], None]) -> QComboBox:
    combo = QComboBox()
    for value, label in CHOICES:
        combo.addItem(label, value)
    combo.setToolTip(MODEL_FPS_HELP)
    combo.activated.connect(lambda index: on_change(combo.itemData(index)))
    return combo

