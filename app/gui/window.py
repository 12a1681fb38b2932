"""The LiveToon window: the panels beside the preview, hotkeys, the session's life, closing.

The panels sit in three tabs (Look with Background, Source with Processing, Outputs):
stacked in one column they needed 900 px and pushed the outputs below the fold of a
1280x760 window (:data:`WINDOW_SIZE`). The window never runs the model: a
:class:`LiveWorker` thread does (one at a time: :class:`~app.gui.session_slot.SessionSlot`),
and every control only records a wish (``LiveProcessor.update``) that applies to the
next frame. The controls live in ``app.gui.panels`` (source, look, processing, outputs),
each bound to its settings object; the window places them (``app.gui.layout``), applies
what Look and Processing report to the processor (and remembers it), and starts and
stops sessions. Outputs live in a :class:`SinkSet` owned here, so switching the camera
does not close the virtual camera OBS is showing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PyQt6.QtCore import QSettings, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PyQt6.QtWidgets import QLabel, QMainWindow, QMessageBox

from common.errors import LiveToonError
from dctnet.styles import StyleRegistry

from app.compositing import Kind
from app.live.contracts import SourceState
from app.live.processor import LiveProcessor
from app.live.sink_set import SinkSet
from app.live.settings import CameraSpec, FileSpec, LiveSettings, SourceSpec
from app.gui import settings_store
from app.gui.banner import MessageBanner
from app.gui.controls import ElidedLabel, SidePanel
from app.gui.first_run import StylesOffer
from app.gui.get_styles_dialog import GetStylesDialog
from app.gui.fitting import DefaultsFitter, still_holds
from app.gui.hotkeys import HOTKEYS, HotkeyHelp, hotkey_note
from app.gui.layout import picture_beside, side_column, tabbed
from app.gui.on_air import badges_for
from app.gui.questions import ask, close_question
from app.gui.panels.background import BackgroundPanel
from app.gui.panels.look import LookPanel
from app.gui.panels.outputs import OutputsPanel
from app.gui.panels.processing import ProcessingPanel
from app.gui.panels.source import NO_CAMERA, VIDEO_SUFFIXES, SourcePanel
from app.gui.preview import PreviewMode, PreviewWidget
from app.gui.session_slot import SessionSlot
from app.gui.worker import LiveWorker

if TYPE_CHECKING:
    from app.live.fitting_defaults import Fit
    from app.pipeline import Processed

STOP_TIMEOUT_MS = 2000
"""How long the window waits for a session to stop before it goes on without it (a slow stop)."""
PANEL_WIDTH, PANEL_MIN_WIDTH = 340, 230
WINDOW_SIZE = (1280, 760)
"""The first size (later, the one the user left); the panel's tabs fit it without scrolling."""
STATS_PERIOD_MS = 500
"""How often the overlay and the rate line are refreshed (``app.live.fit_timing`` reads as often)."""
NOTE_MS, PROBLEM_MS = 5000, 10000
"""How long the status bar shows a refused setting, and a source that did not open."""


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
        first_run = settings_store.is_first_run(self.store)
        self.registry = registry or StyleRegistry()
        self.processor = LiveProcessor(settings_store.load_live_settings(self.store), self.registry,
                                       on_notice=self.processorNotice.emit)
        self.sinks = SinkSet()
        self.sessions = SessionSlot(self)
        self.last_processed = None
        self.source_spec: SourceSpec | None = None
        self.fit: Fit | None = None
        """The first run's choice while it is what runs (its banner goes when the user changes it)."""
        self.fit_waits_for_source = False
        self._build()
        self.processorNotice.connect(self.banner.show_problem)
        self._bind_hotkeys()
        self.look.fill_styles(self.processor.settings.style)
        self._load_settings(self.processor.settings)
        if self.processor.settings.device == "cuda":
            self.processing.choose_device("cuda")  # saved where CUDA worked: say so here if it does not
        self.set_preview_mode(settings_store.load_preview_mode(self.store))
        self.stats_timer = QTimer(self, interval=STATS_PERIOD_MS, timeout=self._show_stats)
        self.stats_timer.start()
        spec = self.source.initial() if source == "last" else source
        if first_run:
            self.fit_defaults_then_start(spec)
        else:
            self.start_source(spec)

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.preview = PreviewWidget()
        self.banner = MessageBanner()
        self.styles_offer = StylesOffer(self.registry, self.store, self.download_style)
        self.source = SourcePanel(self.store)
        self.source.sourceChosen.connect(self.start_source)
        self.source.cameraModeChanged.connect(self._camera_mode_changed)
        self.look = LookPanel(self.registry)
        self.look.changed.connect(self._look_changed)
        self.look.previewChosen.connect(self.set_preview_mode)
        self.look.moreStylesWanted.connect(self.get_more_styles)
        self.processing = ProcessingPanel()
        self.processing.changed.connect(lambda changes: self.change(**changes))
        self.outputs = OutputsPanel(self.sinks, self.store)
        self.outputs.problem.connect(self.banner.show_problem)
        self.outputs.startedFine.connect(lambda: self.banner.clear("problem"))
        self.outputs.running.connect(lambda names: self.preview.set_badges(
            badges_for(names, self.look.bypass_check.isChecked(), self.look.raw_check.isChecked())))
        self.background = BackgroundPanel(self.store)
        self.background.changed.connect(lambda changes: self.change(**changes))
        self.tabs = tabbed((("Look", (self.look, self.background)), ("Source", (self.source, self.processing)),
                            ("Outputs", (self.outputs,))))
        self.outputs.running.connect(self._show_outputs_running)
        column = side_column(self.tabs, self.styles_offer,
                             (("Reset settings", self.reset_settings), ("Hotkeys (F1)", self.show_help)))
        self.panel = SidePanel(column, PANEL_WIDTH, PANEL_MIN_WIDTH)
        self.setCentralWidget(picture_beside(self.banner, self.preview, self.panel))
        self.device_label = QLabel("device: starting")
        self.source_label = ElidedLabel("")  # a long file name gives way, never the frame rate
        self.rate_label = QLabel("")
        for label in (self.device_label, self.source_label):
            self.statusBar().addWidget(label)
        self.statusBar().addPermanentWidget(self.rate_label)
        if not self.restoreGeometry(settings_store.load_geometry(self.store)):
            self.resize(*WINDOW_SIZE)

    @property
    def worker(self) -> LiveWorker | None:
        """The session shown: running, or waiting for a slow stop to end."""
        return self.sessions.worker

    def _show_outputs_running(self, names: list[str]) -> None:
        """The Outputs tab says how many outputs run, seen from whichever tab is open."""
        self.tabs.setTabText(self.tabs.indexOf(self.outputs.parentWidget()), f"Outputs ({len(names)} on)" if names else "Outputs")

    # -- hotkeys ------------------------------------------------------------------------
    def _bind_hotkeys(self) -> None:
        for key, action, _ in HOTKEYS:
            QShortcut(QKeySequence(key), self, activated=lambda action=action: self._hotkey(action))
        QShortcut(QKeySequence("Esc"), self, activated=self.leave_full_screen)

    def _action(self, name: str) -> Callable[[], None]:
        """A hotkey's action: the panel that holds its control, else the window's own (view, help)."""
        owner = next((panel for panel in (self.look, self.outputs) if hasattr(panel, name)), self)
        return getattr(owner, name)

    def _hotkey(self, action: str) -> None:
        """Run a hotkey's action, then confirm it on the preview (full screen hides the panel)."""
        self._action(action)()
        note = hotkey_note(action, self.processor.settings, self.preview.mode.value, set(self.outputs.on_air()))
        if hasattr(self.outputs, action) and self.outputs.failed_now:
            note = self.outputs.failed_now  # why it did not start, not only "off"
        if note:
            self.preview.say(note)

    def next_preview_mode(self) -> None:
        modes = list(PreviewMode)
        self.set_preview_mode(modes[(modes.index(self.preview.mode) + 1) % len(modes)])

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

    # -- settings -----------------------------------------------------------------------
    def _load_settings(self, settings: LiveSettings) -> None:
        self.look.load(settings)
        self.background.load(settings)
        self.processing.load(settings)
        self.preview.bypass = settings.bypass
        self.outputs.set_transparent(settings.background == Kind.TRANSPARENT.value)

    def change(self, **changes: object) -> None:
        """Apply a control's change to the next frame, and remember it."""
        try:
            settings = self.processor.update(**changes)
        except LiveToonError as exc:
            self.statusBar().showMessage(str(exc), NOTE_MS)
            return
        settings_store.save_live_settings(self.store, settings)
        if self.fit is not None and not still_holds(self.fit, settings):
            if self.banner.kind == "info" and self.banner.text.text() == self.fit.reason:
                self.banner.clear("info")  # its figure was for the choice the user just changed
            self.fit = None
        self.outputs.set_transparent(settings.background == Kind.TRANSPARENT.value)

    def _look_changed(self, changes: dict[str, object]) -> None:
        self.change(**changes)
        if "bypass" in changes:  # the preview labels the output "bypass", and a badge says so
            self.preview.bypass = bool(changes["bypass"])
        if {"bypass", "raw_to_outputs"} & changes.keys():
            self.outputs.refresh()

    def set_preview_mode(self, mode: PreviewMode | str) -> None:
        mode = PreviewMode(mode)
        self.preview.set_mode(mode)
        self.look.show_preview_mode(mode)
        settings_store.save_preview_mode(self.store, mode)

    def reset_settings(self) -> QMessageBox:
        """Ask first (every choice made so far goes); the answer arrives without blocking the picture."""
        return ask(self, "Reset settings",
                   "Reset every setting to its default (style, size, outputs' URL, camera mode)?",
                   QMessageBox.StandardButton.Reset, self.reset_settings_now)

    def reset_settings_now(self) -> None:
        settings_store.reset(self.store)
        defaults = LiveSettings()
        self.processor.update(**{k: getattr(defaults, k) for k in defaults.__dataclass_fields__})
        self._load_settings(defaults)
        self.set_preview_mode(PreviewMode.OUTPUT)
        self.outputs.reset()
        self.source.reset()
        self.fit_defaults_then_start(self.source_spec)

    def fit_defaults_then_start(self, spec: SourceSpec | None) -> None:
        """First run and reset: time this machine (the picture waits, so nothing competes
        with the timing), take the style and size that run well, say why, then start."""
        spec = self.source.at_camera_mode(spec)
        self.fit_waits_for_source = spec is None  # timed on the user's own picture: the first one opened
        if spec is None:
            self.start_source(None)
            return
        self.sessions.stop(STOP_TIMEOUT_MS)
        self.preview.show_message("Choosing settings that run well on this computer...")
        fitter = DefaultsFitter(self.registry, spec, self)
        fitter.fitted.connect(lambda fit: self._apply_fit(fit, spec))
        fitter.frameMade.connect(self._show_fit_frame)
        fitter.start()

    def _show_fit_frame(self, processed: Processed) -> None:
        """A frame of a candidate being timed, painted as a session's would be, under the note."""
        if self.worker is None:  # one queued before the session started is stale
            note = self.preview.message
            self.preview.show_frame(processed.frame.image, processed.output)
            self.preview.message = note

    def _apply_fit(self, fit: Fit | None, spec: SourceSpec | None) -> None:
        if fit is not None:
            self.change(style=fit.style, max_size=fit.max_size, model_fps=fit.model_fps)
            self.fit = fit
            self._load_settings(self.processor.settings)
            self.banner.show_info(fit.reason)
        if self.worker is None:  # a source opened meanwhile wins
            self.start_source(spec)

    def get_more_styles(self) -> GetStylesDialog:
        dialog = GetStylesDialog(self.registry, parent=self, picture=self.preview.original)
        dialog.styleInstalled.connect(lambda name: self.look.fill_styles(self.processor.settings.style))
        dialog.open()
        return dialog

    def download_style(self, name: str) -> None:
        """The first-run offer's one click: the Get styles dialog, already downloading ``name``."""
        self.get_more_styles().download([name])

    # -- the session --------------------------------------------------------------------
    def _camera_mode_changed(self) -> None:
        if isinstance(self.source_spec, CameraSpec):
            self.start_source(self.source_spec)  # the driver takes a new mode only on opening

    def start_source(self, spec: SourceSpec | None) -> None:
        """Start a session on ``spec`` in place of the running one (a camera at the chosen mode).

        The new source is checked first: a bad file leaves the running session (and every
        output fed by it) as it was, and says why in the status bar.
        """
        spec = self.source.at_camera_mode(spec)
        if spec is not None and self.fit_waits_for_source:
            self.fit_defaults_then_start(spec)
            return
        if spec is None:
            self.sessions.stop(STOP_TIMEOUT_MS)
            self.preview.show_message(f"{NO_CAMERA}: open a video file, or drop one here",
                                      ("Open video file...", self.source.open_file))
            self.device_label.setText(f"{NO_CAMERA}: open a video file")
            self.processing.show_planned_device(self.processor.settings.device)
            return
        try:
            worker = LiveWorker(spec, self.processor, self.sinks)
        except LiveToonError as exc:
            if self.worker is None:
                self.preview.show_message(str(exc))
            self.statusBar().showMessage(f"not opened: {exc}", PROBLEM_MS)
            self.source.select(self.source_spec)
            return
        self.source_spec = spec
        self.source.select(spec)
        self.outputs.playing = [spec.path] if isinstance(spec, FileSpec) else []
        settings_store.SOURCE.save(self.store, spec.key)
        self.preview.show_message("starting...")
        worker.frameReady.connect(self._frame_ready)
        worker.sourceState.connect(self._source_state)
        worker.failed.connect(self._failed)
        worker.deviceChanged.connect(self._device_changed)
        if not self.sessions.start(worker, STOP_TIMEOUT_MS):
            self.preview.show_message("starting when the previous source has stopped...")

    def _frame_ready(self) -> None:
        worker = self.sender()
        processed = worker.take_frame() if isinstance(worker, LiveWorker) else None
        if processed is None or worker is not self.worker:
            return
        self.last_processed = processed
        self.preview.show_frame(processed.frame.image, processed.output,
                                processed.bgra() if processed.alpha is not None else None)

    def _source_state(self, state: SourceState, detail: str) -> None:
        self.source_label.setText(f"source: {state}" + (f" ({detail})" if detail else ""))
        if state is SourceState.LOST:
            self.preview.show_message(f"camera lost: {detail}\nreconnecting...")
        elif state is SourceState.LIVE:
            self.preview.show_message("")

    def _failed(self, message: str) -> None:
        self.preview.show_message(message)
        self.statusBar().showMessage(message)

    def _device_changed(self, text: str) -> None:
        """Short in the status bar; the combo and the whole reason in the Processing panel."""
        self.device_label.setText(f"device: {text.split(';')[0]}")
        self.device_label.setToolTip(text)
        self.processing.show_device(text)

    def _show_stats(self) -> None:
        if self.worker is None:
            self.preview.overlay = ""
            return
        fps, p50, p95 = self.worker.session.meter.read()
        text = f"{fps:.1f} fps | latency {p50:.0f} ms (p95 {p95:.0f} ms)"
        self.preview.overlay = text
        self.rate_label.setText(f"{text} | source {self.worker.session.source.fps:.1f} fps")
        self.preview.update()
        self.outputs.refresh()

    # -- drag and drop, closing ---------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        urls = event.mimeData().urls()
        if urls and Path(urls[0].toLocalFile()).suffix.lower() in VIDEO_SUFFIXES:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.start_source(FileSpec(Path(event.mimeData().urls()[0].toLocalFile())))

    def ask_before_closing(self) -> QMessageBox:
        """Outputs are on: closing ends them (a recording is finished and kept). The answer
        arrives without blocking the picture; "Close" closes."""
        return ask(self, "Close LiveToon", close_question(self.outputs.on_air()),
                   QMessageBox.StandardButton.Close, self.close)
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if event.spontaneous() and self.outputs.on_air():  # the user's close button, not the program's close()
            event.ignore()
            self.ask_before_closing()
            return
        self.stats_timer.stop()
        self.sessions.stop(STOP_TIMEOUT_MS)
        self.sinks.close_all()
        for dialog in self.findChildren(GetStylesDialog):
            dialog.shut_down()
        for fitter in self.findChildren(DefaultsFitter):
            fitter.stop()
        settings_store.save_geometry(self.store, self.saveGeometry())
        self.store.sync()
        super().closeEvent(event)
