"""The Source panel: which camera or video file feeds the picture, and the camera's mode.

Bound to a :data:`SourceSpec`: ``select`` shows the one running, and a pick goes out as
``sourceChosen`` (a camera at the mode chosen here); the window opens it and keeps the
old session when it cannot. The combo keeps each spec's ``key``, which is also what
the settings file remembers. With no camera attached the combo says so (a disabled entry, not a
blank) and the camera-mode combo is off, since a mode for no camera would do nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PyQt6.QtCore import QSettings, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QFileDialog, QGroupBox, QPushButton, QVBoxLayout

from app.media.video_in import VIDEO_SUFFIXES
from app.live.cameras import list_cameras
from app.live.settings import CameraSpec, FileSpec, SourceSpec, source_from_key
from app.gui import settings_store
from app.gui.folders import videos_folder

NO_CAMERA = "No camera found"
CAMERA_MODES = ((640, 480, 30), (1280, 720, 30), (1280, 720, 60), (1920, 1080, 30))
DEFAULT_CAMERA_MODE = 1


class SourcePanel(QGroupBox):
    sourceChosen = pyqtSignal(object)
    """The SourceSpec the user picked."""
    cameraModeChanged = pyqtSignal()

    def __init__(self, store: QSettings) -> None:
        super().__init__("Source")
        self.store = store
        layout = QVBoxLayout(self)
        self.source_combo = QComboBox()
        cameras = list_cameras()
        for camera in cameras:
            self.source_combo.addItem(f"Camera: {camera.label}", CameraSpec(str(camera.index)).key)
        if not cameras:  # said in the combo itself, not left blank; not a choice that could be picked
            self.source_combo.addItem(NO_CAMERA, "")
            self.source_combo.model().item(0).setEnabled(False)
        self.source_combo.activated.connect(lambda _: self.sourceChosen.emit(self._spec(self.source_combo.currentData())))
        open_button = QPushButton("Open video file...")
        open_button.clicked.connect(self.open_file)
        self.camera_mode_combo = QComboBox()
        for width, height, fps in CAMERA_MODES:
            self.camera_mode_combo.addItem(f"camera {width}x{height} @ {fps} fps", (width, height, fps))
        saved = self.camera_mode_combo.findText(settings_store.CAMERA_MODE.load(store))
        self.camera_mode_combo.setCurrentIndex(saved if saved >= 0 else DEFAULT_CAMERA_MODE)
        self.camera_mode_combo.activated.connect(self._camera_mode_chosen)
        self.camera_mode_combo.setEnabled(bool(cameras))
        self.camera_mode_combo.setToolTip("" if cameras else NO_CAMERA)
        layout.addWidget(self.source_combo)
        layout.addWidget(open_button)
        layout.addWidget(self.camera_mode_combo)

    def _camera_mode_chosen(self) -> None:
        settings_store.CAMERA_MODE.save(self.store, self.camera_mode_combo.currentText())
        self.cameraModeChanged.emit()

    def _spec(self, key: str) -> SourceSpec | None:
        return source_from_key(key, self.camera_mode_combo.currentData())

    def at_camera_mode(self, spec: SourceSpec | None) -> SourceSpec | None:
        """``spec``, a camera asked for the mode chosen here (the driver takes a mode only on opening)."""
        if not isinstance(spec, CameraSpec):
            return spec
        width, height, fps = self.camera_mode_combo.currentData()
        return dataclasses.replace(spec, width=width, height=height, fps=fps)

    def reset(self) -> None:
        self.camera_mode_combo.setCurrentIndex(DEFAULT_CAMERA_MODE)

    def initial(self) -> SourceSpec | None:
        """The last source when it is still there, else the first camera (None without one)."""
        last = self._spec(settings_store.SOURCE.load(self.store))
        if isinstance(last, FileSpec) and last.path.is_file():
            return last
        if isinstance(last, CameraSpec) and self.source_combo.findData(last.key) >= 0:
            return last
        return self._spec(self.source_combo.itemData(0) or "")

    def select(self, spec: SourceSpec | None) -> None:
        """Show ``spec`` as the running source; an opened file is listed to be picked again."""
        if isinstance(spec, FileSpec) and self.source_combo.findData(spec.key) < 0:
            self.source_combo.addItem(f"File: {spec.path.name}", spec.key)
        self.source_combo.setCurrentIndex(self.source_combo.findData(spec.key if spec else ""))

    def open_dialog(self) -> QFileDialog:
        dialog = QFileDialog(self, "Open a video", str(videos_folder()),
                             f"Videos ({' '.join('*' + suffix for suffix in VIDEO_SUFFIXES)})")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        return dialog

    def open_file(self) -> None:
        dialog = self.open_dialog()
        if dialog.exec() and dialog.selectedFiles():
            self.sourceChosen.emit(FileSpec(Path(dialog.selectedFiles()[0])))
