"""The Processing panel: model input size, device, and how often the model runs.

Bound to :class:`LiveSettings` (``max_size``, ``device``, ``model_fps``). The device combo
stays true to what runs: a device that cannot run here (CUDA on a CPU-only build) is
refused at once with the reason under the combo, and "auto" names the device it chose
("auto (cpu)"), so the combo never says "cuda" while the CPU does the work.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel

from dctnet.device import DEVICE_CHOICES, choose_device, cuda_unavailable_reason
from common.errors import LiveToonError

from app.live.settings import LiveSettings
from app.gui.controls import select_or_add
from app.gui.model_fps import model_fps_combo

PROCESSING_SIZES = (360, 480, 720, 1080)
"""Short-side presets for the model input; smaller is faster, 720 is the official size."""
FALLBACK_SIZE = 720
"""Shown when a saved size is not a preset (the official size)."""


class ProcessingPanel(QGroupBox):
    changed = pyqtSignal(dict)
    """LiveSettings fields the user changed, e.g. ``{"max_size": 480}``."""

    def __init__(self) -> None:
        super().__init__("Processing")
        self.form = form = QFormLayout(self)
        self.device = "auto"
        """The device setting in force (what the combo falls back to when a choice is refused)."""
        self.size_combo = QComboBox()
        for size in PROCESSING_SIZES:
            self.size_combo.addItem(f"{size}p", size)
        self.size_combo.activated.connect(lambda _: self.changed.emit({"max_size": self.size_combo.currentData()}))
        self.device_combo = QComboBox()
        for device in DEVICE_CHOICES:
            self.device_combo.addItem(device, device)
        self.device_combo.activated.connect(lambda _: self.choose_device(self.device_combo.currentData()))
        self.device_status = QLabel("")
        self.device_status.setWordWrap(True)
        self.model_fps_combo = model_fps_combo(lambda value: self.changed.emit({"model_fps": value}))
        form.addRow("Size", self.size_combo)
        form.addRow("Device", self.device_combo)
        form.addRow("Model fps", self.model_fps_combo)
        form.addRow(self.device_status)
        form.setRowVisible(self.device_status, False)  # shown with its first reason: a blank row only pushes the panel down

    def load(self, settings: LiveSettings) -> None:
        """Put the processing fields into the controls without echoing them back as changes."""
        self.device = settings.device
        index = self.size_combo.findData(settings.max_size)
        self.size_combo.setCurrentIndex(index if index >= 0 else PROCESSING_SIZES.index(FALLBACK_SIZE))
        self.device_combo.setCurrentIndex(self.device_combo.findData(settings.device))
        select_or_add(self.model_fps_combo, settings.model_fps, settings.model_fps)

    def choose_device(self, device: str) -> None:
        """A device that cannot run here is refused, with the reason in the panel; a saved "cuda"
        (from a build that had CUDA) becomes "auto", which is what runs."""
        reason = cuda_unavailable_reason() if device == "cuda" else None
        if not reason:
            self.device = device
            self.changed.emit({"device": device})
            return
        if self.device == "cuda":
            self.device = "auto"
            self.changed.emit({"device": "auto"})
        self.device_combo.setCurrentIndex(self.device_combo.findData(self.device))
        self._say(f"CUDA cannot be used, so the CPU stays on: {reason}.")

    def show_device(self, text: str) -> None:
        """What the session's stylizer reports (``cpu; CUDA not used: ...``): "auto" names the
        device it picked, and the whole reason goes under the combo."""
        self._say(text)
        self.device_combo.setItemText(self.device_combo.findData("auto"), f"auto ({text.split(' ')[0]})")

    def show_planned_device(self, device: str) -> None:
        """No session runs (no camera yet): what ``device`` will pick and why, so that "auto" is
        not left unexplained (a saved "cuda" that cannot run here is shown as the "auto" it becomes)."""
        try:
            choice = choose_device(device)
        except LiveToonError:
            choice = choose_device("auto")
        self.show_device(choice.describe())

    def _say(self, text: str) -> None:
        self.device_status.setText(text)
        self.form.setRowVisible(self.device_status, bool(text))
