"""The Outputs panel: the outputs' size and rate, and virtual camera, stream and recording
switched on a :class:`SinkSet`.

Bound to :class:`OutputSettings`: every output carries the size and rate chosen here
(remembered through ``settings_store``). They are locked while an output runs, as in
OBS: a virtual camera or a stream that changes size mid-show breaks its viewers, and a
recording cannot. The panel owns the switching: a toggle opens its sink (or closes
it: a recording is finished there), a sink that fails to open or stops on its own
(disk full, device gone) unticks its toggle, and the reason goes out through
``problem`` for the banner over the preview (and ``failed_now`` for the hotkey's note). Each output is one
row of ``TOGGLES``, opened through the registry (``app.live.outputs``) with this panel's ``_request``. A finished recording's "recorded N frames to ..." stays,
with *Open folder*, until dismissed: switching another output must not take away where the file went.

A recording carries the sound the microphone choice picks (:mod:`app.gui.panels.microphone`),
and the panel says what is recorded: "picture + the default microphone", "picture only", and
why when a microphone is missing (the recording keeps the picture).

With a transparent background (``set_transparent``) NDI sends the alpha and a new
recording goes to ``.webm`` with the alpha kept; the virtual camera and the stream,
which cannot carry alpha, show the key colour (the Background panel says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QSettings, Qt, QUrl, pyqtSignal
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                             QVBoxLayout, QWidget)

from common.errors import LiveToonError

from app.fix_it import FixableError, FixIt
from app.live.microphone import heard_by
from app.live.outputs import NDI, RECORD, STREAM, VIRTUAL_CAMERA, OutputRequest, open_output
from app.live.sink_set import SinkSet
from app.live.settings import OutputSettings
from app.live.ndi import DEFAULT_NDI_NAME, ndi_available
from app.live.sinks import DEFAULT_STREAM_URL
from app.gui import folders, settings_store
from app.gui.banner import split_fix
from app.gui.controls import select_or_add
from app.gui.on_air import OUTPUT_BADGES
from app.gui.panels.microphone import MicrophoneChoice
from app.gui.panels.obs_link import ObsLink
from app.compositing import KEY_COLOUR
from app.obs.add_source import NDI_KIND, Added, Target

OUTPUT_SIZES = ((640, 360), (854, 480), (1280, 720), (1920, 1080))
OUTPUT_RATES = (15.0, 24.0, 25.0, 30.0, 50.0, 60.0)
LOCKED_TIP = "Stop the outputs to change their size and rate"
ON_AIR_BUTTONS = "QPushButton:checked { background-color: #c62828; color: white; font-weight: bold; }"


@dataclass(frozen=True)
class Toggle:
    """One output's button: the SinkSet name it switches, its text off and on (the hotkey in both)."""

    name: str
    off_text: str
    on_text: str


TOGGLES = (Toggle(VIRTUAL_CAMERA, "Virtual camera (V)", "● VCAM on: stop (V)"),
           Toggle(STREAM, "Stream (S)", "● LIVE: stop stream (S)"),
           Toggle(RECORD, "Record (R)", "● REC: stop recording (R)"),
           Toggle(NDI, "NDI (with alpha)", "● NDI on: stop"))


class OutputsPanel(QGroupBox):
    problem = pyqtSignal(str, object)
    """An output failed to start or stopped on its own: its reason, and fix when there is one;
    the fix as data (a :class:`FixIt`, or None)."""
    startedFine = pyqtSignal()
    """An output started: the last output's fix-it is over."""
    running = pyqtSignal(list)
    """The SinkSet names of the outputs on now, after every switch and refresh (for the badges)."""

    def __init__(self, sinks: SinkSet, store: QSettings) -> None:
        super().__init__("Outputs")
        self.sinks = sinks
        self.store = store
        self.playing: list[Path] = []
        """The video file the session plays, if any: a recording never goes over it."""
        self.note = ""
        self.failed_now = ""
        """Why the output switched last did not start ('' when it did): the hotkey's note says so."""
        self.transparent = False
        """The background is transparent: NDI and a new recording carry alpha, the others get the key colour."""
        self.settings = settings_store.load_output_settings(store)
        self.size_combo = QComboBox()
        for width, height in OUTPUT_SIZES:
            self.size_combo.addItem(f"{width}x{height}", f"{width}x{height}")
        self.fps_combo = QComboBox()
        for fps in OUTPUT_RATES:
            self.fps_combo.addItem(f"{fps:g} fps", fps)
        for combo in (self.size_combo, self.fps_combo):
            combo.activated.connect(self._format_chosen)
        self.load(self.settings)
        self.setStyleSheet(ON_AIR_BUTTONS)
        self.buttons: dict[str, QPushButton] = {}
        for toggle in TOGGLES:
            button = QPushButton(toggle.off_text, checkable=True)
            button.toggled.connect(lambda on, toggle=toggle: self._switch(toggle.name, on))
            self.buttons[toggle.name] = button
        self.vcam_button, self.stream_button = self.buttons[VIRTUAL_CAMERA], self.buttons[STREAM]
        self.record_button, self.ndi_button = self.buttons[RECORD], self.buttons[NDI]
        self.ndi_button.setToolTip(ndi_available() or "An NDI source for OBS's DistroAV plugin: the cartoon with its alpha")
        self.stream_url = QLineEdit(settings_store.STREAM_URL.load(store))
        self.ndi_name = QLineEdit(settings_store.NDI_NAME.load(store))
        self.microphone = MicrophoneChoice(store)
        self.sound_note = QLabel("")
        """What a recording holds: the picture, and the sound heard (a microphone, a video file's own), or not."""
        self.sound_note.setWordWrap(True)
        self.saved: Path | None = None
        self.saved_text = ""
        """"recorded N frames to ...", in the status until dismissed."""
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.clicked.connect(self.open_saved_folder)
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(lambda: self.show_saved(None, ""))
        self.saved_row = QWidget()
        saved_buttons = QHBoxLayout(self.saved_row)
        saved_buttons.setContentsMargins(0, 0, 0, 0)
        saved_buttons.addWidget(self.open_folder_button)
        saved_buttons.addWidget(dismiss)
        self.saved_row.hide()
        self.status = QLabel("outputs off")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.obs = ObsLink(store, self.obs_target, sinks.rest, self.on_air)
        self.obs.resting.connect(self._obs_resting)
        self.obs.added.connect(self._obs_added)
        self.obs.failed.connect(self._obs_failed)
        layout = QVBoxLayout(self)
        format_row = QHBoxLayout()
        format_row.addWidget(self.size_combo, 3)
        format_row.addWidget(QLabel("@"))
        format_row.addWidget(self.fps_combo, 2)
        form = QFormLayout()
        form.addRow("Size", format_row)
        form.addRow("Stream URL", self.stream_url)
        form.addRow("NDI name", self.ndi_name)
        form.addRow("Sound", self.microphone)
        form.addRow("OBS", self.obs)
        layout.addLayout(form)
        for widget in (*self.buttons.values(), self.sound_note, self.status, self.saved_row):
            layout.addWidget(widget)

    def reset(self) -> None:
        self.stream_url.setText(DEFAULT_STREAM_URL)
        self.ndi_name.setText(DEFAULT_NDI_NAME)
        self.microphone.reset()
        self.load(OutputSettings())

    # -- the outputs' size and rate ------------------------------------------------------
    def load(self, settings: OutputSettings) -> None:
        """Show ``settings`` in the size and rate combos."""
        self.settings = settings
        size = f"{settings.width}x{settings.height}"
        select_or_add(self.size_combo, size, size)
        select_or_add(self.fps_combo, settings.fps, f"{settings.fps:g} fps")

    def _format_chosen(self) -> None:
        width, height = (int(side) for side in self.size_combo.currentData().split("x"))
        self.settings = OutputSettings(width, height, self.fps_combo.currentData())
        settings_store.save_output_settings(self.store, self.settings)

    # -- opening each output ------------------------------------------------------------
    def _request(self, name: str) -> OutputRequest:
        """What the registry opens ``name`` with: this panel's size and rate, and the output's own
        option (remembered). A recording: what the other outputs show, never over the file being
        played; with a transparent background to .webm, alpha kept (VP9 keeps up live on a CPU)."""
        if name == STREAM:
            url = self.stream_url.text().strip() or DEFAULT_STREAM_URL
            settings_store.STREAM_URL.save(self.store, url)
            return OutputRequest(self.settings, url, encoders=self.sinks.encoders)
        if name == NDI:
            ndi_name = self.ndi_name.text().strip() or DEFAULT_NDI_NAME
            settings_store.NDI_NAME.save(self.store, ndi_name)
            return OutputRequest(self.settings, ndi_name)
        if name == RECORD:
            path = folders.recording_path(".webm") if self.transparent else folders.recording_path()
            return OutputRequest(self.settings, path, protect=self.playing, alpha=self.transparent,
                                 audio=self.sinks.audio, microphone=self.microphone.choice, encoders=self.sinks.encoders)
        return OutputRequest(self.settings)

    def set_transparent(self, on: bool) -> None:
        """The background became (or stopped being) transparent; a running recording keeps its format."""
        self.transparent = on

    # -- switching ----------------------------------------------------------------------
    def _switch(self, name: str, on: bool) -> None:
        """Open or close one output; a failure unticks its button and says why (the app runs on)."""
        self.failed_now = ""
        if not on:
            sink = self.sinks.get(name)
            self.sinks.set(name, None)  # closes it: a recording is finished here
            saved = getattr(sink, "saved", None)
            if saved is not None:
                self.show_saved(saved, sink.status)
            self.note = "" if saved is not None else sink.status if sink is not None and name == RECORD else f"{name} off"
            if sink is not None and sink.error:
                self._failed(name, sink.error)
        else:
            try:
                self.sinks.set(name, open_output(name, self._request(name)))
                self.note = ""
                self.startedFine.emit()
            except LiveToonError as exc:
                fix = exc.fix if isinstance(exc, FixableError) else None
                self._failed(name, str(exc) if str(exc).lower().startswith(name) else f"{name}: {exc}", fix)
        self.refresh()

    def _failed(self, name: str, message: str, fix: FixIt | None = None) -> None:
        """Untick the output's button; the banner gets the message, the panel its one-line reason."""
        button = self.buttons[name]
        button.blockSignals(True)
        button.setChecked(False)
        button.blockSignals(False)
        self.note = self.failed_now = split_fix(message)[0]
        self.problem.emit(message, fix)

    def show_saved(self, path: Path | None, text: str) -> None:
        """Where the last recording went, until dismissed (None hides it)."""
        self.saved, self.saved_text = path, text if path is not None else ""
        self.saved_row.setVisible(path is not None)
        self.refresh()

    def open_saved_folder(self) -> None:
        if self.saved is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.saved.parent)))

    # -- Add to OBS ---------------------------------------------------------------------
    def obs_target(self) -> Target:
        """What this window sends OBS: the stream URL and NDI name here, keyed when transparent."""
        return Target(self.stream_url.text().strip() or DEFAULT_STREAM_URL,
                      self.ndi_name.text().strip() or DEFAULT_NDI_NAME,
                      KEY_COLOUR if self.transparent else None, transparent=self.transparent)

    def _obs_added(self, added: Added) -> None:
        """OBS is set up: start the output that feeds its source, unless it runs (a failure says why)."""
        button = self.ndi_button if added.kind == NDI_KIND else self.stream_button
        started = not button.isChecked()
        button.setChecked(True)
        if button.isChecked():
            self.note = added.describe() + ("; its output started" if started else "")
            self.refresh()

    def _obs_failed(self, message: str) -> None:
        self.note = split_fix(message)[0]
        self.problem.emit(message, [])
        self.refresh()

    def _obs_resting(self, resting: bool, showing: bool | None) -> None:
        self.note = ("OBS hides LiveToon's source: the model rests" if resting else
                     "OBS shows LiveToon's source: the model runs" if showing else "lost sight of OBS: the model runs")
        self.refresh()

    def refresh(self) -> None:
        """Switch off outputs that stopped on their own, then show each running output's own status
        (a recording that hit a full disk says so) and the last note."""
        for name in self.buttons:
            sink = self.sinks.get(name)
            if sink is not None and sink.error:
                self.sinks.set(name, None)
                self._failed(name, sink.error)
        lines = [sink.status for sink in self.sinks.all()] + [line for line in (self.saved_text, self.note) if line]
        self.status.setText("\n".join(lines) or "outputs off")
        self.sound_note.setText(self.recorded_text())
        for toggle in TOGGLES:
            button = self.buttons[toggle.name]
            button.setText(toggle.on_text if button.isChecked() else toggle.off_text)
        running = self.on_air()
        self.microphone.setEnabled(RECORD not in running)
        for combo in (self.size_combo, self.fps_combo):
            combo.setEnabled(not running)
            combo.setToolTip(LOCKED_TIP if running else "")
        self.obs.outputs_changed()  # a virtual camera or a recording keeps the model awake
        self.running.emit(running)

    def recorded_text(self) -> str:
        """What the running recording holds, or what one started now would; and what went wrong
        with its sound (a missing microphone), if anything."""
        recording = self.sinks.get(RECORD)
        heard = getattr(recording, "heard", "") if recording is not None else heard_by(
            self.microphone.choice, self.sinks.audio, self.microphone.device_name())
        text = f"Recording: picture + {heard}" if heard else "Recording: picture only"
        problem = self.sinks.audio.problem
        return f"{text}\n{problem}" if problem else text

    def on_air(self) -> list[str]:
        """The SinkSet names of the outputs on now, in the badges' order."""
        return [name for name in OUTPUT_BADGES if self.sinks.get(name) is not None]

    # -- hotkey actions (names from app.gui.hotkeys.HOTKEYS) ------------------------------
    def toggle_record(self) -> None:
        self.record_button.toggle()

    def toggle_virtual_camera(self) -> None:
        self.vcam_button.toggle()

    def toggle_stream(self) -> None:
        self.stream_button.toggle()
