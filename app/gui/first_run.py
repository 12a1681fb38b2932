"""The first-run offer: the official anime style, one line and one click away.

A new user has only the built-in styles and may not know the official ones exist. The
window asks once, without blocking anything: the hub is asked for the style's size on
a background thread (a short timeout, one try), and only an answer shows the offer.
Offline, one muted line says so and disappears, once: later starts say nothing (the
window showed it on every start, and the panel moved when it went). The offer itself
comes the next time the machine is online. Once shown, it is never shown again, and
the user's answer is kept (``settings_store``). The window puts this line under its
tabs, so that neither its coming nor its going moves a control under the pointer.

The thread is a plain daemon thread rather than a QThread: a hub that does not answer
must never hold up closing the window (a QThread would have to be waited for).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from dctnet.hub import HubClient, official_style, select_files
from dctnet.styles import StyleRegistry

from app.gui import settings_store

log = logging.getLogger(__name__)
OFFERED_STYLE = "anime"
PROBE_TIMEOUT_S = 5.0
OFFLINE_NOTE_MS = 15_000


def official_style_size(name: str, endpoint: str | None = None) -> int:
    """Bytes a download of the official style ``name`` fetches, from the hub's listing."""
    client = HubClient(endpoint, timeout=PROBE_TIMEOUT_S, attempts=1)
    model_id, files = client.locate(official_style(name))
    return sum(remote.size for remote in select_files(files, model_id).files)


def readable_size(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 10e6 else f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def only_builtin_styles(registry: StyleRegistry) -> bool:
    return all(style.builtin for style in registry.all())


class StylesOffer(QFrame):
    """One line at the top of the panel: "the official anime style, N MB", Download / No thanks."""

    sized = pyqtSignal("qint64")
    unreachable = pyqtSignal(str)

    def __init__(self, registry: StyleRegistry, store: QSettings, download: Callable[[str], None],
                 endpoint: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store, self.download, self.endpoint = store, download, endpoint
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.download_button = QPushButton(f"Download {OFFERED_STYLE}")
        self.decline_button = QPushButton("No thanks")
        self.download_button.clicked.connect(self._accept)
        self.decline_button.clicked.connect(self._decline)
        buttons = QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.decline_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addLayout(buttons)
        self.sized.connect(self._offer)
        self.unreachable.connect(self._say_offline)
        self.hide()
        if only_builtin_styles(registry) and not settings_store.styles_offer_shown(store):
            threading.Thread(target=self._probe, name="styles-offer", daemon=True).start()

    def _probe(self) -> None:
        try:
            size, reason = official_style_size(OFFERED_STYLE, self.endpoint), ""
        except Exception as exc:  # offline, a mirror that is down, an odd listing: all mean "not now"
            log.info("official styles not offered: %s", exc)
            size, reason = 0, str(exc) or type(exc).__name__
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile: nobody to tell
            if reason:
                self.unreachable.emit(reason)
            else:
                self.sized.emit(size)

    def _offer(self, size: int) -> None:
        self.text.setText(f"New: the official <b>{OFFERED_STYLE}</b> style from the DCT-Net authors "
                          f"({readable_size(size)}, Apache-2.0).")
        self.text.setTextFormat(Qt.TextFormat.RichText)
        settings_store.remember_styles_offer(self.store, "shown")
        self.show()

    def _say_offline(self, reason: str) -> None:
        if settings_store.OFFLINE_NOTE.load(self.store):
            return
        settings_store.OFFLINE_NOTE.save(self.store, "shown")
        self.text.setText(f"Official styles: offline ({reason}); Get more styles... when you are online.")
        self.text.setStyleSheet("color: gray")
        self.download_button.hide()
        self.decline_button.hide()
        self.show()
        QTimer.singleShot(OFFLINE_NOTE_MS, self.hide)

    def _accept(self) -> None:
        settings_store.remember_styles_offer(self.store, "download")
        self.hide()
        self.download(OFFERED_STYLE)

    def _decline(self) -> None:
        settings_store.remember_styles_offer(self.store, "declined")
        self.hide()
