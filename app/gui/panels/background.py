"""The window's Background panel: what goes behind the cut-out person (app.compositing).

One combo for the kind (keep, blur, colour, transparent, picture or video file), a
colour picker and a file chooser that appear when they apply, "main person only",
and "stylize the picture" for files. Every change becomes a ``background`` spelled as
``--background`` would spell it, so the window, the settings file and the command
line share one vocabulary; a file that cannot be used is refused by the live
processor, which keeps the previous background and says why. The file chosen last is
remembered apart (``settings_store.BACKGROUND_FILE``): choosing "Picture or video file"
again, even after a restart with another background, takes it without a dialog.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QSettings, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (QCheckBox, QColorDialog, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                             QLabel, QPushButton, QWidget)

from app.compositing import BACKGROUND_HELP, KEY_COLOUR, Kind
from app.media.image_in import IMAGE_SUFFIXES
from app.media.video_in import VIDEO_SUFFIXES
from app.live.settings import LiveSettings
from app.gui import settings_store

FILE = "file"
CHOICES = ((Kind.KEEP.value, "Keep (the cartoon's room)"), (Kind.BLUR.value, "Blur"), (Kind.COLOR.value, "Colour"),
           (Kind.TRANSPARENT.value, "Transparent"), (FILE, "Picture or video file"))
KEY_NOTE = "Virtual camera and stream have no alpha: they get pure green behind you"
VIDEO_FILTER = " ".join(f"*{suffix}" for suffix in VIDEO_SUFFIXES)
DEFAULT_COLOUR = "#{2:02x}{1:02x}{0:02x}".format(*KEY_COLOUR)


def kind_of(background: str) -> str:
    """Which combo entry a ``--background`` spelling belongs to (no file is opened here)."""
    word = background.strip().lower()
    if word.startswith("color"):
        return Kind.COLOR.value
    if word in (Kind.KEEP.value, Kind.BLUR.value, Kind.TRANSPARENT.value):
        return word
    return FILE


class BackgroundPanel(QGroupBox):
    changed = pyqtSignal(dict)
    """LiveSettings fields the user changed: ``background``, ``main_person_only`` or ``stylize_background``."""

    def __init__(self, store: QSettings | None = None) -> None:
        """``store`` remembers the chosen file across other backgrounds and restarts."""
        super().__init__("Background")
        self.store = store
        self.colour = DEFAULT_COLOUR
        self.path = settings_store.BACKGROUND_FILE.load(store) if store is not None else ""
        self.applied = Kind.KEEP.value
        """The background in force (as ``--background`` spells it): what a cancelled choice goes
        back to, never a less private one such as ``keep``."""
        form = QFormLayout(self)
        self.kind_combo = QComboBox()
        for value, label in CHOICES:
            self.kind_combo.addItem(label, value)
        self.kind_combo.setToolTip(BACKGROUND_HELP)
        self.kind_combo.activated.connect(lambda _: self._changed())
        self.colour_button = QPushButton()
        self.colour_button.clicked.connect(self.pick_colour)
        self.file_button = QPushButton("Choose...")
        self.file_button.clicked.connect(self.choose_file)
        self.file_label = QLabel(Path(self.path).name if self.path else "")
        self.file_label.setWordWrap(True)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_button)
        file_row.addWidget(self.file_label, 1)
        self.file_row = QWidget()
        self.file_row.setLayout(file_row)
        self.main_person_check = QCheckBox("Main person only")
        self.main_person_check.setToolTip("keep only the person whose face is tracked; off: everyone in the picture")
        self.main_person_check.toggled.connect(lambda on: self.changed.emit({"main_person_only": on}))
        self.stylize_check = QCheckBox("Stylize the file")
        self.stylize_check.setToolTip("run the picture or video through the style's background model")
        self.stylize_check.toggled.connect(lambda on: self.changed.emit({"stylize_background": on}))
        self.key_note = QLabel(KEY_NOTE)
        self.key_note.setWordWrap(True)
        form.addRow("Behind you", self.kind_combo)
        form.addRow("Colour", self.colour_button)
        form.addRow("File", self.file_row)
        form.addRow(self.main_person_check)  # each on its own row: as a label it would widen the panel
        form.addRow(self.stylize_check)
        form.addRow(self.key_note)
        self._form = form
        self._show_colour()
        self._show_parts(Kind.KEEP.value)

    @property
    def kind(self) -> str:
        return self.kind_combo.currentData()

    def spelled(self) -> str:
        """The panel's choice as ``--background`` spells it."""
        if self.kind == Kind.COLOR.value:
            return f"color:{self.colour}"
        if self.kind == FILE:
            return self.path
        return self.kind

    def _changed(self) -> None:
        if self.kind == FILE and not self.path:
            self.choose_file()
            return
        self._show_parts(self.kind)
        self.applied = self.spelled()
        self.changed.emit({"background": self.applied})

    def pick_colour(self) -> None:
        chosen = QColorDialog.getColor(QColor(self.colour), self, "Background colour")
        if chosen.isValid():
            self.colour = chosen.name()
            self._show_colour()
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(Kind.COLOR.value))
            self._changed()

    def choose_file(self) -> None:
        pictures = " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Background picture or video", self.path,
                                              f"Pictures and videos ({pictures} {VIDEO_FILTER});;All files (*)")
        if path:
            self.path = path
            self.file_label.setText(Path(path).name)
            if self.store is not None:
                settings_store.BACKGROUND_FILE.save(self.store, path)
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(FILE))
            self._changed()
        elif self.kind == FILE and not self.path:  # cancelled before any file was chosen: as it was
            kind = kind_of(self.applied)
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
            self._show_parts(kind)

    def _show_colour(self) -> None:
        self.colour_button.setText(self.colour)
        text = "#000000" if QColor(self.colour).lightness() > 140 else "#ffffff"
        self.colour_button.setStyleSheet(f"background-color: {self.colour}; color: {text};")

    def _show_parts(self, kind: str) -> None:
        """Only the parts that apply to the kind are shown."""
        self._form.setRowVisible(self.colour_button, kind == Kind.COLOR.value)
        self._form.setRowVisible(self.file_row, kind == FILE)
        self._form.setRowVisible(self.stylize_check, kind == FILE)
        self.main_person_check.setEnabled(kind != Kind.KEEP.value)
        self.key_note.setVisible(kind == Kind.TRANSPARENT.value)

    def load(self, settings: LiveSettings) -> None:
        """Put the settings into the controls without echoing them back as changes."""
        widgets = (self.kind_combo, self.main_person_check, self.stylize_check)
        for widget in widgets:
            widget.blockSignals(True)
        kind = kind_of(settings.background)
        self.applied = settings.background
        if kind == Kind.COLOR.value and ":" in settings.background:
            self.colour = "#" + settings.background.split(":", 1)[1].strip().lstrip("#").lower()
            self._show_colour()
        if kind == FILE:
            self.path = settings.background
            self.file_label.setText(Path(self.path).name)
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
        self.main_person_check.setChecked(settings.main_person_only)
        self.stylize_check.setChecked(settings.stylize_background)
        for widget in widgets:
            widget.blockSignals(False)
        self._show_parts(kind)
