"""The Look panel: style, mode, strength, stability, mirror, bypass, and what the preview shows.

Bound to :class:`LiveSettings` (its look fields): ``load`` puts them in quietly, and every
change the user makes goes out as ``changed`` with the fields that moved, so the window
applies it to the next frame and remembers it in one place. The hotkey actions on the
look (``next_style``, ``stability_up``...) act through these controls, so the panel and
the picture never disagree.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QPushButton

from dctnet.engine import Mode
from dctnet.styles import StyleRegistry

from app.live.settings import LiveSettings
from app.gui.controls import ValueSlider
from app.gui.preview import PreviewMode

STABILITY_STEP = 10
"""A hotkey press moves stability by 0.1 (the slider counts hundredths)."""


class LookPanel(QGroupBox):
    changed = pyqtSignal(dict)
    """LiveSettings fields the user changed, e.g. ``{"style": "toon"}``."""
    moreStylesWanted = pyqtSignal()
    previewChosen = pyqtSignal(object)
    """The PreviewMode picked in the combo."""

    def __init__(self, registry: StyleRegistry) -> None:
        super().__init__("Look")
        self.registry = registry
        form = QFormLayout(self)
        self.style_combo = QComboBox()
        self.style_combo.currentTextChanged.connect(lambda name: name and self.changed.emit({"style": name}))
        self.style_combo.currentIndexChanged.connect(self._show_style_summary)
        more = QPushButton("Get more styles...")
        more.clicked.connect(self.moreStylesWanted)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems([m.value for m in Mode])
        self.mode_combo.currentTextChanged.connect(lambda mode: self.changed.emit({"mode": mode}))
        self.strength_slider = ValueSlider(100, lambda v: self.changed.emit({"strength": v / 100}), lambda v: f"{v}%")
        self.stability_slider = ValueSlider(100, lambda v: self.changed.emit({"stability": v / 100}),
                                            lambda v: f"{v / 100:.2f}")
        self.bypass_check = QCheckBox("Bypass (B)")
        self.bypass_check.setToolTip("The preview shows the camera picture unchanged; the outputs keep the cartoon")
        self.bypass_check.toggled.connect(lambda on: self.changed.emit({"bypass": on}))
        self.raw_check = QCheckBox("Bypass: RAW camera to outputs")  # short: a long one widened the panel
        self.raw_check.setStyleSheet("QCheckBox { color: #c62828; font-weight: bold; }")
        self.raw_check.setToolTip("Off by default, and off again at every start: with it on, Bypass puts your real "
                                  "face and room on the stream, the virtual camera, NDI and recordings")
        self.raw_check.toggled.connect(lambda on: self.changed.emit({"raw_to_outputs": on}))
        self.mirror_check = QCheckBox("Mirror (M)")
        self.mirror_check.toggled.connect(lambda on: self.changed.emit({"mirror": on}))
        self.preview_combo = QComboBox()
        self.preview_combo.addItems([m.value for m in PreviewMode])
        self.preview_combo.currentTextChanged.connect(lambda mode: self.previewChosen.emit(PreviewMode(mode)))
        form.addRow("Style", self.style_combo)
        form.addRow("", more)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Strength", self.strength_slider.row)
        strength_note = QLabel("Below 100% the camera picture is mixed in, inside the person")
        strength_note.setWordWrap(True)  # else it widens the panel past a 700 px window
        form.addRow("", strength_note)
        form.addRow("Stability", self.stability_slider.row)
        form.addRow("Preview", self.preview_combo)
        form.addRow(self.mirror_check, self.bypass_check)
        form.addRow(self.raw_check)

    def fill_styles(self, current: str) -> None:
        """List every installed style (again after an install), keeping ``current`` selected, quietly."""
        self.style_combo.blockSignals(True)
        self.style_combo.clear()
        for style in self.registry.all():
            self.style_combo.addItem(style.name)
            self.style_combo.setItemData(self.style_combo.count() - 1, style.summary, Qt.ItemDataRole.ToolTipRole)
        self.style_combo.setCurrentText(current)
        self.style_combo.blockSignals(False)
        self._show_style_summary(self.style_combo.currentIndex())

    def _show_style_summary(self, index: int) -> None:
        self.style_combo.setToolTip(self.style_combo.itemData(index, Qt.ItemDataRole.ToolTipRole) or "")

    def load(self, settings: LiveSettings) -> None:
        """Put the look fields into the controls without echoing them back as changes."""
        widgets = (self.style_combo, self.mode_combo, self.strength_slider, self.stability_slider,
                   self.bypass_check, self.mirror_check, self.raw_check)
        for widget in widgets:
            widget.blockSignals(True)
        self.style_combo.setCurrentText(settings.style)
        self.mode_combo.setCurrentText(settings.mode)
        self.strength_slider.setValue(round(settings.strength * 100))
        self.stability_slider.setValue(round(settings.stability * 100))
        self.bypass_check.setChecked(settings.bypass)
        self.raw_check.setChecked(settings.raw_to_outputs)
        self.mirror_check.setChecked(settings.mirror)
        for widget in widgets:
            widget.blockSignals(False)
        self._show_style_summary(self.style_combo.currentIndex())
        self.strength_slider.show_value()
        self.stability_slider.show_value()

    def show_preview_mode(self, mode: PreviewMode) -> None:
        self.preview_combo.blockSignals(True)
        self.preview_combo.setCurrentText(mode.value)
        self.preview_combo.blockSignals(False)

    # -- hotkey actions (names from app.gui.hotkeys.HOTKEYS) ------------------------------
    def toggle_bypass(self) -> None:
        self.bypass_check.toggle()

    def toggle_mirror(self) -> None:
        self.mirror_check.toggle()

    def _step_style(self, step: int) -> None:
        count = self.style_combo.count()
        if count:
            self.style_combo.setCurrentIndex((self.style_combo.currentIndex() + step) % count)

    def next_style(self) -> None:
        self._step_style(1)

    def previous_style(self) -> None:
        self._step_style(-1)

    def stability_up(self) -> None:
        self.stability_slider.setValue(self.stability_slider.value() + STABILITY_STEP)

    def stability_down(self) -> None:
        self.stability_slider.setValue(self.stability_slider.value() - STABILITY_STEP)
