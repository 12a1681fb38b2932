"""The LiveToon window: source, preview, style and quality controls, outputs, status.

The window never runs the model: a :class:`LiveWorker` thread does, and every control
only records a wish (``LiveProcessor.update``) that applies to the next frame. Outputs
(virtual camera, stream, recording) live in a :class:`SinkSet` owned here, so
switching the camera does not close the virtual camera OBS is showing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PyQt6.QtCore import QByteArray, QSettings, QStandardPaths, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMainWindow, QMessageBox,
    QPushButton, QVBoxLayout, QWidget,
)

from dctnet.device import DEVICE_CHOICES, cuda_unavailable_reason
from dctnet.engine import Mode
from dctnet.errors import LiveToonError
from dctnet.styles import StyleRegistry

from app.live.cameras import list_cameras
from app.live.contracts import SourceState
from app.live.session import PROCESSING_SIZES, LiveProcessor, SinkSet
from app.live.settings import CameraSpec, FileSpec, LiveSettings, OutputSettings, SourceSpec, source_from_key
from app.paths import ensure_folder
from app.live.record import RecordSink
from app.live.sinks import DEFAULT_STREAM_URL, StreamSink, VirtualCameraSink
from app.gui import settings_store
from app.gui.controls import SidePanel, ValueSlider
from app.gui.banner import MessageBanner, split_fix
from app.gui.first_run import StylesOffer
from app.gui.fitting import DefaultsFitter
from app.gui.hotkeys import HOTKEYS, HotkeyHelp, hotkey_note
from app.gui.on_air import OUTPUT_BADGES, badges_for
from app.gui.model_fps import model_fps_combo, show_model_fps
from app.gui.preview import PreviewMode, PreviewWidget
from app.gui.worker import LiveWorker

if TYPE_CHECKING:
    from app.live.fitting_defaults import Fit
    from app.gui.get_styles_dialog import GetStylesDialog

NO_CAMERA = "No camera found"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
STOP_TIMEOUT_MS = 2000
CAMERA_MODES = ((640, 480, 30), (1280, 720, 30), (1280, 720, 60), (1920, 1080, 30))
DEFAULT_CAMERA_MODE = 1
PANEL_WIDTH, PANEL_MIN_WIDTH = 330, 230
ON_AIR_BUTTONS = "QPushButton:checked { background-color: #c62828; color: white; font-weight: bold; }"


def videos_folder() -> Path:
    """Where people keep videos: the Videos folder when it exists, else home (never the clone)."""
    folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation) or Path.home())
    return folder if folder.is_dir() else Path.home()


def recording_path() -> Path:
    """A new file in the user's Videos folder, made if missing (a fresh account has none)."""
    folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation) or Path.home())
    ensure_folder(folder)
    path = folder / time.strftime("livetoon-%Y%m%d-%H%M%S.mp4")
    number = 1
    while path.exists():  # two recordings within a second
        number += 1
        path = folder / time.strftime(f"livetoon-%Y%m%d-%H%M%S-{number}.mp4")
    return path


class MainWindow(QMainWindow):
    processorNotice = pyqtSignal(str)
    """A style that failed to load mid-run (from the pipeline thread to the banner)."""

    def __init__(self, store: QSettings | None = None, registry: StyleRegistry | None = None,
                 source: SourceSpec | None | Literal["last"] = "last") -> None:
        """``source``: what to start on; "last" for the one used last time (or the first camera),
        None for nothing yet (as when no camera exists)."""
        super().__init__()
        self.setWindowTitle("LiveToon")
        self.setAcceptDrops(True)
        self.store = store or settings_store.open_settings()
        first_run = not self.store.contains("live/style")
        self.registry = registry or StyleRegistry()
        self.processor = LiveProcessor(settings_store.load_live_settings(self.store), self.registry,
                                       on_notice=self.processorNotice.emit)
        self.output_settings = OutputSettings()
        self.sinks = SinkSet()
        self.worker: LiveWorker | None = None
        self.output_note = ""
        self.last_processed = None
        self.source_spec: SourceSpec | None = None
        self._build()
        self.processorNotice.connect(self.banner.show_problem)
        self._bind_hotkeys()
        self._show_settings(self.processor.settings)
        if self.processor.settings.device == "cuda":
            self._device_chosen("cuda")  # saved where CUDA worked: say so here if it does not
        self.preview.set_mode(settings_store.load_preview_mode(self.store))
        self._sync_preview_combo()
        self.stats_timer = QTimer(self, interval=500, timeout=self._show_stats)
        self.stats_timer.start()
        spec = self._initial_source() if source == "last" else source
        if first_run:
            self.fit_defaults_then_start(spec)
        else:
            self.start_source(spec)

    # -- building ---------------------------------------------------------------------
    def _build(self) -> None:
        self.preview = PreviewWidget()
        panel = QWidget()
        column = QVBoxLayout(panel)
        self.styles_offer = StylesOffer(self.registry, self.store, self.download_style)
        column.addWidget(self.styles_offer)
        column.addWidget(self._source_box())
        column.addWidget(self._look_box())
        column.addWidget(self._quality_box())
        column.addWidget(self._output_box())
        column.addStretch(1)
        reset = QPushButton("Reset settings")
        reset.clicked.connect(self.reset_settings)
        help_button = QPushButton("Hotkeys (F1)")
        help_button.clicked.connect(self.show_help)
        row = QHBoxLayout()
        row.addWidget(reset)
        row.addWidget(help_button)
        column.addLayout(row)
        scroll = SidePanel(panel, PANEL_WIDTH, PANEL_MIN_WIDTH)
        self.panel = scroll
        self.banner = MessageBanner()
        picture = QVBoxLayout()
        picture.setSpacing(0)
        picture.addWidget(self.banner)
        picture.addWidget(self.preview, 1)
        body = QWidget()
        layout = QHBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(picture, 1)
        layout.addWidget(scroll)
        self.setCentralWidget(body)
        self.device_label = QLabel("device: starting")
        self.source_label = QLabel("")
        self.rate_label = QLabel("")
        for label in (self.device_label, self.source_label):
            self.statusBar().addWidget(label)
        self.statusBar().addPermanentWidget(self.rate_label)
        if not self.restoreGeometry(self.store.value("window/geometry", QByteArray())):
            self.resize(1280, 760)

    def _source_box(self) -> QGroupBox:
        box = QGroupBox("Source")
        layout = QVBoxLayout(box)
        self.source_combo = QComboBox()
        cameras = list_cameras()
        for camera in cameras:
            self.source_combo.addItem(f"Camera: {camera.label}", CameraSpec(str(camera.index)).key)
        if not cameras:  # said in the combo itself, not left blank; not a choice that could be picked
            self.source_combo.addItem(NO_CAMERA, "")
            self.source_combo.model().item(0).setEnabled(False)
        self.source_combo.activated.connect(lambda _: self.start_source(source_from_key(self.source_combo.currentData())))
        open_button = QPushButton("Open video file...")
        open_button.clicked.connect(self.open_file)
        self.camera_mode_combo = QComboBox()
        for width, height, fps in CAMERA_MODES:
            self.camera_mode_combo.addItem(f"camera {width}x{height} @ {fps} fps", (width, height, fps))
        saved = self.camera_mode_combo.findText(str(self.store.value("camera/mode", "")))
        self.camera_mode_combo.setCurrentIndex(saved if saved >= 0 else DEFAULT_CAMERA_MODE)
        self.camera_mode_combo.activated.connect(self._camera_mode_changed)
        self.camera_mode_combo.setEnabled(bool(cameras))  # a mode for no camera would do nothing
        self.camera_mode_combo.setToolTip("" if cameras else NO_CAMERA)
        layout.addWidget(self.source_combo)
        layout.addWidget(open_button)
        layout.addWidget(self.camera_mode_combo)
        return box

    def _camera_mode_changed(self) -> None:
        self.store.setValue("camera/mode", self.camera_mode_combo.currentText())
        if isinstance(self.source_spec, CameraSpec):
            self.start_source(self.source_spec)  # the driver takes a new mode only on opening

    def _look_box(self) -> QGroupBox:
        box = QGroupBox("Look")
        form = QFormLayout(box)
        self.style_combo = QComboBox()
        self._fill_styles()
        self.style_combo.currentTextChanged.connect(lambda name: name and self.change(style=name))
        self.style_combo.currentIndexChanged.connect(self._show_style_summary)
        more = QPushButton("Get more styles...")
        more.clicked.connect(self.get_more_styles)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems([m.value for m in Mode])
        self.mode_combo.currentTextChanged.connect(lambda mode: self.change(mode=mode))
        self.strength_slider = ValueSlider(100, lambda v: self.change(strength=v / 100), lambda v: f"{v}%")
        self.stability_slider = ValueSlider(100, lambda v: self.change(stability=v / 100), lambda v: f"{v / 100:.2f}")
        self.bypass_check = QCheckBox("Bypass (B)")
        self.bypass_check.toggled.connect(self._bypass_toggled)
        self.mirror_check = QCheckBox("Mirror (M)")
        self.mirror_check.toggled.connect(lambda on: self.change(mirror=on))
        self.preview_combo = QComboBox()
        self.preview_combo.addItems([m.value for m in PreviewMode])
        self.preview_combo.currentTextChanged.connect(self.set_preview_mode)
        form.addRow("Style", self.style_combo)
        form.addRow("", more)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Strength", self.strength_slider.row)
        form.addRow("Stability", self.stability_slider.row)
        form.addRow("Preview", self.preview_combo)
        form.addRow(self.mirror_check, self.bypass_check)
        return box

    def _quality_box(self) -> QGroupBox:
        box = QGroupBox("Processing")
        form = QFormLayout(box)
        self.size_combo = QComboBox()
        for size in PROCESSING_SIZES:
            self.size_combo.addItem(f"{size}p", size)
        self.size_combo.activated.connect(lambda _: self.change(max_size=self.size_combo.currentData()))
        self.device_combo = QComboBox()
        for device in DEVICE_CHOICES:
            self.device_combo.addItem(device, device)
        self.device_combo.activated.connect(lambda _: self._device_chosen(self.device_combo.currentData()))
        self.device_status = QLabel("")
        self.device_status.setWordWrap(True)
        self.model_fps_combo = model_fps_combo(lambda value: self.change(model_fps=value))
        form.addRow("Size", self.size_combo)
        form.addRow("Device", self.device_combo)
        form.addRow("Model fps", self.model_fps_combo)
        form.addRow(self.device_status)
        return box

    def _output_box(self) -> QGroupBox:
        box = QGroupBox("Outputs")
        layout = QVBoxLayout(box)
        self.vcam_button = QPushButton("Virtual camera (V)", checkable=True)
        self.vcam_button.toggled.connect(self._virtual_camera_toggled)
        self.stream_url = QLineEdit(str(self.store.value("window/stream_url", DEFAULT_STREAM_URL)))
        self.stream_button = QPushButton("Stream (S)", checkable=True)
        self.stream_button.toggled.connect(self._stream_toggled)
        self.record_button = QPushButton("Record (R)", checkable=True)
        self.record_button.toggled.connect(self._record_toggled)
        box.setStyleSheet(ON_AIR_BUTTONS)
        self.output_status = QLabel("outputs off")
        self.output_status.setWordWrap(True)
        self.output_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._output_texts = {self.vcam_button: ("Virtual camera (V)", "● VCAM on: stop (V)"),
                              self.stream_button: ("Stream (S)", "● LIVE: stop stream (S)"),
                              self.record_button: ("Record (R)", "● REC: stop recording (R)")}
        url_row = QFormLayout()
        url_row.addRow("Stream URL", self.stream_url)
        layout.addWidget(self.vcam_button)
        layout.addLayout(url_row)
        for widget in (self.stream_button, self.record_button, self.output_status):
            layout.addWidget(widget)
        return box

    def _fill_styles(self) -> None:
        current = self.style_combo.currentText() or self.processor.settings.style
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

    def _bind_hotkeys(self) -> None:
        for key, action, _ in HOTKEYS:
            QShortcut(QKeySequence(key), self, activated=lambda action=action: self._hotkey(action))
        QShortcut(QKeySequence("Esc"), self, activated=self.leave_full_screen)

    def _hotkey(self, action: str) -> None:
        """Run a hotkey's action, then confirm it on the preview (full screen hides the panel)."""
        getattr(self, action)()
        running = {name for name in OUTPUT_BADGES if self.sinks.get(name) is not None}
        note = hotkey_note(action, self.processor.settings, self.preview.mode.value, running)
        if note:
            self.preview.say(note)

    def _bypass_toggled(self, on: bool) -> None:
        self.change(bypass=on)
        self.preview.bypass = on
        self._show_outputs()

    def _show_settings(self, settings: LiveSettings) -> None:
        """Put settings into the controls without echoing them back as changes."""
        widgets = (self.style_combo, self.mode_combo, self.strength_slider, self.stability_slider,
                   self.bypass_check, self.mirror_check, self.size_combo, self.device_combo, self.model_fps_combo)
        for widget in widgets:
            widget.blockSignals(True)
        self.style_combo.setCurrentText(settings.style)
        self.mode_combo.setCurrentText(settings.mode)
        self.strength_slider.setValue(round(settings.strength * 100))
        self.stability_slider.setValue(round(settings.stability * 100))
        self.bypass_check.setChecked(settings.bypass)
        self.preview.bypass = settings.bypass
        self.mirror_check.setChecked(settings.mirror)
        index = self.size_combo.findData(settings.max_size)
        self.size_combo.setCurrentIndex(index if index >= 0 else PROCESSING_SIZES.index(720))
        self.device_combo.setCurrentIndex(self.device_combo.findData(settings.device))
        show_model_fps(self.model_fps_combo, settings.model_fps)
        for widget in widgets:
            widget.blockSignals(False)
        self.strength_slider.show_value()
        self.stability_slider.show_value()

    # -- settings ---------------------------------------------------------------------
    def change(self, **changes: object) -> None:
        """Apply a control's change to the next frame, and remember it."""
        try:
            settings = self.processor.update(**changes)
        except LiveToonError as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return
        settings_store.save_live_settings(self.store, settings)

    def reset_settings(self) -> QMessageBox:
        """Ask first (every choice made so far goes); the answer arrives without blocking the picture."""
        question = QMessageBox(QMessageBox.Icon.Question, "Reset settings",
                               "Reset every setting to its default (style, size, outputs' URL, camera mode)?",
                               QMessageBox.StandardButton.Reset | QMessageBox.StandardButton.Cancel, self)
        question.setDefaultButton(QMessageBox.StandardButton.Cancel)
        reset = question.button(QMessageBox.StandardButton.Reset)
        question.finished.connect(lambda _: question.clickedButton() is reset and self.reset_settings_now())
        question.open()
        return question

    def reset_settings_now(self) -> None:
        settings_store.reset(self.store)
        defaults = LiveSettings()
        self.processor.update(**{k: getattr(defaults, k) for k in defaults.__dataclass_fields__})
        self._show_settings(defaults)
        self.set_preview_mode(PreviewMode.OUTPUT.value)
        self._sync_preview_combo()
        self.stream_url.setText(DEFAULT_STREAM_URL)
        self.camera_mode_combo.setCurrentIndex(DEFAULT_CAMERA_MODE)
        self.fit_defaults_then_start(self.source_spec)

    def fit_defaults_then_start(self, spec: SourceSpec | None) -> None:
        """First run and reset: time this machine (the picture waits, so nothing competes
        with the timing), take the style and size that run well, say why, then start."""
        self.stop_session()
        self.preview.show_message("Choosing settings that run well on this computer...")
        fitter = DefaultsFitter(self.registry, self)
        fitter.fitted.connect(lambda fit: self._apply_fit(fit, spec))
        fitter.start()

    def _apply_fit(self, fit: Fit | None, spec: SourceSpec | None) -> None:
        if fit is not None:
            self.change(style=fit.style, max_size=fit.max_size)
            self._show_settings(self.processor.settings)
            self.banner.show_info(fit.reason)
        if self.worker is None:  # a source opened meanwhile wins
            self.start_source(spec)

    def set_preview_mode(self, mode: str) -> None:
        self.preview.set_mode(PreviewMode(mode))
        self.store.setValue("window/preview", mode)

    def _sync_preview_combo(self) -> None:
        self.preview_combo.blockSignals(True)
        self.preview_combo.setCurrentText(self.preview.mode.value)
        self.preview_combo.blockSignals(False)

    # -- sources ----------------------------------------------------------------------
    def _initial_source(self) -> SourceSpec | None:
        last = source_from_key(settings_store.load_source(self.store))
        if isinstance(last, FileSpec) and last.path.is_file():
            return last
        if isinstance(last, CameraSpec) and self.source_combo.findData(last.key) >= 0:
            return last
        return source_from_key(self.source_combo.itemData(0) or "")

    def open_dialog(self) -> QFileDialog:
        dialog = QFileDialog(self, "Open a video", str(videos_folder()), "Videos (*.mp4 *.mov *.mkv *.avi *.webm *.m4v)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        return dialog

    def open_file(self) -> None:
        dialog = self.open_dialog()
        if dialog.exec() and dialog.selectedFiles():
            self.start_source(FileSpec(Path(dialog.selectedFiles()[0])))

    def start_source(self, spec: SourceSpec | None) -> None:
        """Start a session on ``spec`` in place of the running one (a camera at the chosen mode).

        The new source is checked first: a bad file leaves the running session (and every
        output fed by it) as it was, and says why in the status bar.
        """
        if isinstance(spec, CameraSpec):
            width, height, fps = self.camera_mode_combo.currentData()
            spec = dataclasses.replace(spec, width=width, height=height, fps=fps)
        if spec is None:
            self.stop_session()
            self.preview.show_message(f"{NO_CAMERA}: open a video file, or drop one here")
            self.device_label.setText(f"{NO_CAMERA}: open a video file")
            return
        try:
            worker = LiveWorker(spec, self.processor, self.sinks)
        except LiveToonError as exc:
            if self.worker is None:
                self.preview.show_message(str(exc))
            self.statusBar().showMessage(f"not opened: {exc}", 10000)
            self.source_combo.setCurrentIndex(self.source_combo.findData(self.source_spec.key if self.source_spec else ""))
            return
        if isinstance(spec, FileSpec) and self.source_combo.findData(spec.key) < 0:
            self.source_combo.addItem(f"File: {spec.path.name}", spec.key)
        self.stop_session()
        self.source_spec = spec
        self.source_combo.setCurrentIndex(self.source_combo.findData(spec.key))
        self.store.setValue("window/source", spec.key)
        self.preview.show_message("starting...")
        self.worker = worker
        self.worker.frameReady.connect(self._frame_ready)
        self.worker.sourceState.connect(self._source_state)
        self.worker.failed.connect(self._failed)
        self.worker.deviceChanged.connect(self._device_changed)
        self.worker.start()

    def stop_session(self) -> bool:
        """Stop the pipeline thread; True when it ended within the time limit."""
        worker, self.worker = self.worker, None
        if worker is None:
            return True
        return worker.stop(STOP_TIMEOUT_MS)

    # -- worker signals ---------------------------------------------------------------
    def _frame_ready(self) -> None:
        worker = self.sender()
        processed = worker.take_frame() if isinstance(worker, LiveWorker) else None
        if processed is None or worker is not self.worker:
            return
        self.last_processed = processed
        self.preview.show_frame(processed.frame.image, processed.output)

    def _source_state(self, state: SourceState, detail: str) -> None:
        self.source_label.setText(f"source: {state}" + (f" ({detail})" if detail else ""))
        if state is SourceState.LOST:
            self.preview.show_message(f"camera lost: {detail}\nreconnecting...")
        elif state is SourceState.LIVE:
            self.preview.show_message("")

    def _failed(self, message: str) -> None:
        self.preview.show_message(message)
        self.statusBar().showMessage(message)

    def _device_chosen(self, device: str) -> None:
        """A device that cannot run here is refused at once, with the reason in the panel:
        the combo keeps showing what really runs (never "cuda" while the CPU works)."""
        reason = cuda_unavailable_reason() if device == "cuda" else None
        if reason:
            if self.processor.settings.device == "cuda":  # saved by a build that had CUDA
                self.change(device="auto")
            self._show_settings(self.processor.settings)
            self.device_status.setText(f"CUDA cannot be used, so the CPU stays on: {reason}.")
            return
        self.change(device=device)

    def _device_changed(self, text: str) -> None:
        """Short in the status bar and in the combo's "auto (cpu)"; the whole reason in the panel."""
        self.device_label.setText(f"device: {text.split(';')[0]}")
        self.device_label.setToolTip(text)
        self.device_status.setText(text)
        self.device_combo.setItemText(self.device_combo.findData("auto"), f"auto ({text.split(' ')[0]})")

    def _show_stats(self) -> None:
        if self.worker is None:
            self.preview.overlay = ""
            return
        fps, p50, p95 = self.worker.session.meter.read()
        text = f"{fps:.1f} fps | latency {p50:.0f} ms (p95 {p95:.0f} ms)"
        self.preview.overlay = text
        self.rate_label.setText(f"{text} | source {self.worker.session.source.fps:.1f} fps")
        self.preview.update()
        self._show_outputs()

    # -- outputs ----------------------------------------------------------------------
    def _switch_output(self, name: str, on: bool, button: QPushButton, make: Callable[[], object]) -> None:
        """Open or close one output; a failure unticks its button and says why (the app runs on)."""
        if not on:
            sink = self.sinks.get(name)
            self.sinks.set(name, None)  # closes it: a recording is finished here
            self.output_note = sink.status if sink is not None and name == "record" else f"{name} off"
            if sink is not None and sink.error:
                self._output_failed(button, sink.error)
        else:
            try:
                self.sinks.set(name, make())
                self.output_note = ""
                self.banner.clear("problem")  # an output that starts fine ends the last fix-it
            except LiveToonError as exc:
                self._output_failed(button, str(exc) if str(exc).startswith(name) else f"{name}: {exc}")
        self._show_outputs()

    def _output_failed(self, button: QPushButton, message: str) -> None:
        """Untick the output's button and say why in the banner over the preview (its fix behind
        "Copy command"); the panel keeps the one-line reason."""
        button.blockSignals(True)
        button.setChecked(False)
        button.blockSignals(False)
        self.output_note = split_fix(message)[0]
        self.banner.show_problem(message)

    def _drop_failed_outputs(self) -> None:
        """An output that stopped on its own (disk full, device gone) is switched off, and says so."""
        buttons = {"virtual camera": self.vcam_button, "stream": self.stream_button, "record": self.record_button}
        for name, button in buttons.items():
            sink = self.sinks.get(name)
            if sink is not None and sink.error:
                self.sinks.set(name, None)
                self._output_failed(button, sink.error)

    def _show_outputs(self) -> None:
        """Each running output's own status (a recording that hit a full disk says so), then the last note."""
        self._drop_failed_outputs()
        lines = [sink.status for sink in self.sinks.all()] + ([self.output_note] if self.output_note else [])
        self.output_status.setText("\n".join(lines) or "outputs off")
        running = [name for name in OUTPUT_BADGES if self.sinks.get(name) is not None]
        self.preview.set_badges(badges_for(running, self.bypass_check.isChecked()))
        for button, (off_text, on_text) in self._output_texts.items():
            button.setText(on_text if button.isChecked() else off_text)

    def _virtual_camera_toggled(self, on: bool) -> None:
        self._switch_output("virtual camera", on, self.vcam_button, lambda: VirtualCameraSink(self.output_settings))

    def _stream_toggled(self, on: bool) -> None:
        url = self.stream_url.text().strip() or DEFAULT_STREAM_URL
        self.store.setValue("window/stream_url", url)
        self._switch_output("stream", on, self.stream_button, lambda: StreamSink(url, self.output_settings))

    def _record_toggled(self, on: bool) -> None:
        self._switch_output("record", on, self.record_button, self._new_recording)

    def _new_recording(self) -> RecordSink:
        """What the other outputs show, at their size and rate; never over the file being played."""
        playing = [self.source_spec.path] if isinstance(self.source_spec, FileSpec) else []
        return RecordSink(recording_path(), self.output_settings, protect=playing)

    # -- hotkey actions ---------------------------------------------------------------
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
        self.stability_slider.setValue(self.stability_slider.value() + 10)

    def stability_down(self) -> None:
        self.stability_slider.setValue(self.stability_slider.value() - 10)

    def toggle_record(self) -> None:
        self.record_button.toggle()

    def toggle_virtual_camera(self) -> None:
        self.vcam_button.toggle()

    def toggle_stream(self) -> None:
        self.stream_button.toggle()

    def next_preview_mode(self) -> None:
        modes = list(PreviewMode)
        self.set_preview_mode(modes[(modes.index(self.preview.mode) + 1) % len(modes)].value)
        self._sync_preview_combo()

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.leave_full_screen()
            return
        self.panel.hide()
        self.statusBar().hide()
        self.showFullScreen()

    def leave_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        self.panel.show()
        self.statusBar().show()

    def show_help(self) -> None:
        HotkeyHelp(self).open()

    def get_more_styles(self) -> GetStylesDialog:
        from app.gui.get_styles_dialog import GetStylesDialog

        dialog = GetStylesDialog(self.registry, parent=self, picture=self.preview.original)
        dialog.styleInstalled.connect(lambda name: self._fill_styles())
        dialog.open()
        return dialog

    def download_style(self, name: str) -> None:
        """The first-run offer's one click: the Get styles dialog, already downloading ``name``."""
        self.get_more_styles().download([name])

    # -- drag and drop, closing -------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        urls = event.mimeData().urls()
        if urls and Path(urls[0].toLocalFile()).suffix.lower() in VIDEO_SUFFIXES:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.start_source(FileSpec(Path(event.mimeData().urls()[0].toLocalFile())))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.stats_timer.stop()
        self.stop_session()
        self.sinks.close_all()
        self.store.setValue("window/geometry", self.saveGeometry())
        self.store.sync()
        super().closeEvent(event)
