"""The Outputs tab's *Add to OBS* row: OBS's address, its password, and the button.

The button does what ``livetoon obs add`` does (``app/obs/add_source.py``), for what the
window sends: the stream URL and NDI name of the Outputs panel, and whether the
background is transparent. The address is remembered (``settings_store.OBS_ADDRESS``);
the password is kept only while the window is open and never written anywhere, since
a settings file is plain text.

The connection is short: it fails at once when nothing listens, and a silent server is
given ``TIMEOUT`` seconds, so the window waits no longer than that.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QSettings, pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QWidget

from dctnet.errors import LiveToonError

from app.gui import settings_store
from app.obs.add_source import Added, Target, add_to_obs
from app.obs.client import ObsClient, parse_address

TIMEOUT = 3.0


class ObsLink(QWidget):
    added = pyqtSignal(object)
    """OBS was set up: the :class:`Added` it reports."""
    failed = pyqtSignal(str)
    """OBS could not be set up: the one line saying why and what to do."""

    def __init__(self, store: QSettings, target: Callable[[], Target]) -> None:
        super().__init__()
        self.store = store
        self.target = target
        self.address = QLineEdit(settings_store.OBS_ADDRESS.load(store))
        self.address.setToolTip("OBS's WebSocket server (OBS: Tools > WebSocket Server Settings)")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("password (if set)")
        self.password.setToolTip("Kept while LiveToon is open, never saved")
        self.button = QPushButton("Add to OBS")
        self.button.setToolTip("Create or update the 'LiveToon' source in OBS's current scene, and start its output")
        self.button.clicked.connect(self.add)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.address, 3)
        row.addWidget(self.password, 2)
        row.addWidget(self.button, 2)

    def add(self) -> Added | None:
        """Set OBS up now; the result goes out through ``added`` or ``failed``."""
        try:
            host, port = parse_address(self.address.text())
            settings_store.OBS_ADDRESS.save(self.store, f"{host}:{port}")
            with ObsClient(host, port, self.password.text() or None, timeout=TIMEOUT) as client:
                done = add_to_obs(client, self.target())
        except LiveToonError as exc:
            self.failed.emit(str(exc))
            return None
        self.added.emit(done)
        return done
