"""The Outputs tab's OBS rows: OBS's address, its password, *Add to OBS*, and the rest switch.

The button does what ``livetoon obs add`` does (``app/obs/add_source.py``), for what the
window sends: the stream URL and NDI name of the Outputs panel, and whether the
background is transparent. The address is remembered (``settings_store.OBS_ADDRESS``);
the password is kept only while the window is open and never written anywhere, since
a settings file is plain text.

Once OBS is set up, the connection stays open to watch it: while OBS shows the source
nowhere and every running output feeds OBS, the model rests (``app/obs/visibility.py``;
on by default, *Rest while OBS hides it* switches it off). Call
``outputs_changed`` when outputs start or stop: a virtual camera or a recording wakes it.

Connecting is short: it fails at once when nothing listens, and a silent server is
given ``TIMEOUT`` seconds, so the window waits no longer than that.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QSettings, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from common.errors import LiveToonError

from app.gui import settings_store
from app.live.rest import RestGate
from app.obs.add_source import Added, Target, add_to_obs
from app.obs.client import ObsClient, parse_address
from app.obs.visibility import RestWhileHidden

TIMEOUT = 3.0


class ObsLink(QWidget):
    added = pyqtSignal(object)
    """OBS was set up: the :class:`Added` it reports."""
    failed = pyqtSignal(str)
    """OBS could not be set up: the one line saying why and what to do."""
    resting = pyqtSignal(bool, object)
    """The model started or stopped resting, with OBS's word (True, False, or None: not known)."""

    def __init__(self, store: QSettings, target: Callable[[], Target], gate: RestGate,
                 running: Callable[[], list[str]]) -> None:
        super().__init__()
        self.store, self.target, self.gate, self.running = store, target, gate, running
        self.watcher: RestWhileHidden | None = None
        self.address = QLineEdit(settings_store.OBS_ADDRESS.load(store))
        self.address.setToolTip("OBS's WebSocket server (OBS: Tools > WebSocket Server Settings)")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("password (if set)")
        self.password.setToolTip("Kept while LiveToon is open, never saved")
        self.button = QPushButton("Add to OBS")
        self.button.setToolTip("Create or update the 'LiveToon' source in OBS's current scene, and start its output")
        self.button.clicked.connect(self.add)
        self.rest_check = QCheckBox("Rest while OBS hides it")
        self.rest_check.setChecked(True)
        self.rest_check.setToolTip("After Add to OBS: while LiveToon's source shows nowhere in OBS and only the stream "
                                   "or NDI runs, the model stops and the outputs repeat the last frame")
        self.rest_check.toggled.connect(self._rest_switched)
        row = QHBoxLayout()
        row.addWidget(self.address, 3)
        row.addWidget(self.password, 2)
        row.addWidget(self.button, 2)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(row)
        column.addWidget(self.rest_check)

    def add(self) -> Added | None:
        """Set OBS up now and watch it; the result goes out through ``added`` or ``failed``."""
        self.stop_watching()
        try:
            host, port = parse_address(self.address.text())
            settings_store.OBS_ADDRESS.save(self.store, f"{host}:{port}")
            password = self.password.text() or None
            with ObsClient(host, port, password, timeout=TIMEOUT) as client:
                done = add_to_obs(client, self.target())
            self.watcher = RestWhileHidden(self.gate, self.running, host, port, password,
                                           on_change=self.resting.emit, enabled=self.rest_check.isChecked())
        except LiveToonError as exc:
            self.failed.emit(str(exc))
            return None
        self.added.emit(done)
        return done

    def outputs_changed(self) -> None:
        if self.watcher is not None:
            self.watcher.update()

    def _rest_switched(self, on: bool) -> None:
        if self.watcher is not None:
            self.watcher.enabled = on

    def stop_watching(self) -> None:
        """Close the connection to OBS; the model wakes."""
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
