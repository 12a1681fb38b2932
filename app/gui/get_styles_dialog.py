"""The "Get styles" dialog: download the official DCT-Net styles with one click.

Downloads run in a :class:`QThread` because a style is megabytes over a network that
may be slow or gone, and the window's preview must keep running meanwhile. The
thread talks to the dialog only through queued signals; cancelling sets an event the
download polls between chunks, so it stops within one chunk and, like any failure,
leaves the styles folder untouched (partial downloads stay in the cache to resume).
The hub's notices (a server that is slow to answer, a file checked by its size only)
go to their own label, so the progress line that follows does not wipe them out.

Each entry says what it costs before anything is fetched (the download's size, or
the installed file's) and, once installed, shows itself: a thumbnail of the style on
the camera picture the window is showing (:mod:`app.gui.style_thumbnails`).
"""

from __future__ import annotations

import functools
import html
import logging
import re
import threading
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSize, Qt, QThread, pyqtSignal
from PyQt6.QtGui import QIcon, QPixmap
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from common.errors import LiveToonError
from common.downloads import DownloadCancelled
from dctnet.hub import OFFICIAL_STYLES, HubClient, download_style
from dctnet.network import TTN
from dctnet.styles import StyleRegistry

from app.gui.preview import to_qimage
from app.gui.style_thumbnails import THUMBNAIL_PX, ThumbnailThread

log = logging.getLogger(__name__)
PROGRESS_STEPS = 1000
DESCRIPTIONS = {
    "anime": "Japanese anime portrait look",
    "3d": "3D-animation look, soft shading",
    "handdrawn": "hand-drawn cartoon look",
    "sketch": "pencil sketch, black and white",
    "artstyle": "painterly art look",
    "design": "flat design look (trained on Stable Diffusion pictures)",
    "illustration": "illustration look (trained on Stable Diffusion pictures)",
}
"""One line each, so the list says what a name looks like before megabytes are fetched."""
VISIBLE_ROWS = 5
LIST_WIDTH = 540
NO_PICTURE_HINT = "Thumbnails of installed styles appear here when a camera or video is running."


@functools.cache
def download_megabytes() -> float:
    """What one official style costs to fetch: every official style is the same network
    (DCT-Net's 32-channel TTN, 1,467,075 parameters), twice (head and bg), as fp32
    constants in the graph files; the graphs' own structure adds only kilobytes."""
    return 2 * 4 * sum(p.numel() for p in TTN().parameters()) / 1e6


def size_text(registry: StyleRegistry, name: str, installed: set[str]) -> str:
    if name in installed:
        path = registry.get(name).path
        return f"installed, {path.stat().st_size / 1e6:.0f} MB" if path else "installed"
    return f"about {download_megabytes():.0f} MB"


def linked(text: str) -> str:
    """``text`` as rich text whose web addresses can be clicked (the offline fix names the model page)."""
    return re.sub(r"(https?://[^\s`'\"]+[^\s`'\".,;)])", r'<a href="\1">\1</a>', html.escape(text, quote=False))


class DownloadThread(QThread):
    """Downloads and installs styles one after another, reporting through signals."""

    progressed = pyqtSignal(str, "qint64", "qint64")  # style, bytes done, bytes in all
    installed = pyqtSignal(str)
    failed = pyqtSignal(str)
    noticed = pyqtSignal(str)  # a line the user should see; emitted from the hub's timer thread too

    def __init__(self, registry: StyleRegistry, names: list[str], endpoint: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry, self.names, self.endpoint = registry, names, endpoint
        self.cancel_event = threading.Event()

    def run(self) -> None:
        try:
            client = HubClient(self.endpoint, cancel=self.cancel_event, notify=self.noticed.emit)
            for name in self.names:
                download_style(name, self.registry, client, progress=functools.partial(self.progressed.emit, name))
                self.installed.emit(name)
        except DownloadCancelled:
            self.failed.emit("Download cancelled; nothing half-written was installed.")
        except LiveToonError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug: report it in the dialog rather than abort the whole app
            log.exception("style download failed")
            self.failed.emit(f"unexpected error ({type(exc).__name__}: {exc}); please report it")


class GetStylesDialog(QDialog):
    """Lists the official styles (installed ones marked) and downloads the checked ones."""

    styleInstalled = pyqtSignal(str)  # noqa: N815 - Qt's naming, as the window connects to it

    def __init__(self, registry: StyleRegistry, endpoint: str | None = None, parent: QWidget | None = None,
                 picture: np.ndarray | None = None) -> None:
        super().__init__(parent)
        self.registry, self.endpoint, self.picture = registry, endpoint, picture
        self.worker: DownloadThread | None = None
        self.thumbnails: dict[str, QIcon] = {}
        self.thumbnail_thread: ThumbnailThread | None = None
        self._close_when_done = False
        self.setWindowTitle("Get styles")
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        # Two rows at least, VISIBLE_ROWS at first: the list gives way to a long message (offline),
        # which a list held at its full height overlapped, its border striking through the text.
        self.list.setMinimumSize(LIST_WIDTH, 2 * (THUMBNAIL_PX + 6))
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        hint = "" if picture is not None else f" {NO_PICTURE_HINT}"
        self.status = QLabel(f"Official DCT-Net styles (Apache-2.0), downloaded from ModelScope.{hint}")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.status.setOpenExternalLinks(True)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notes.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel download")
        self.import_button = QPushButton("Import folder...")
        self.import_button.setToolTip("Install a style from a folder holding its head and bg model files "
                                      "(downloaded by hand, e.g. from the model page)")
        for button, slot in ((self.download_button, self.start_download), (self.cancel_button, self.cancel_download),
                             (self.import_button, self.choose_import_folder)):
            self.buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
            button.clicked.connect(slot)
        self.cancel_button.setEnabled(False)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.list, self.progress, self.status, self.notes, self.buttons):
            layout.addWidget(widget)
        self.resize(self.sizeHint().width(), self.sizeHint().height() + (VISIBLE_ROWS - 2) * (THUMBNAIL_PX + 6))
        self._fill_list()

    def _fill_list(self) -> None:
        installed = {style.name for style in self.registry.all()}
        self.list.clear()
        blank = QPixmap(THUMBNAIL_PX, THUMBNAIL_PX)
        blank.fill(Qt.GlobalColor.transparent)  # keeps every name at the same indent
        for name, official in OFFICIAL_STYLES.items():
            item = QListWidgetItem(f"{name}: {DESCRIPTIONS[name]}\n{size_text(self.registry, name, installed)}")
            item.setIcon(self.thumbnails.get(name, QIcon(blank)))
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(f"{official.model_id()} @ {official.revision}")
            if name in installed:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)  # enabled: a disabled icon is drawn grey
            else:
                item.setCheckState(Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self._render_thumbnails(sorted(self._installed_official() - self.thumbnails.keys()))

    def _render_thumbnails(self, names: list[str]) -> None:
        if self.picture is None or not names or self.thumbnail_thread is not None:
            return
        self.thumbnail_thread = ThumbnailThread(self.registry, names, self.picture, self)
        self.thumbnail_thread.rendered.connect(self._on_thumbnail)
        self.thumbnail_thread.finished.connect(self._on_thumbnails_done)
        self.thumbnail_thread.start()

    def _on_thumbnail(self, name: str, image: np.ndarray) -> None:
        self.thumbnails[name] = QIcon(QPixmap.fromImage(to_qimage(image)))
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.item(row).setIcon(self.thumbnails[name])

    def _on_thumbnails_done(self) -> None:
        """A style installed meanwhile gets its thumbnail from the next thread."""
        self.thumbnail_thread = None
        self._render_thumbnails(sorted(self._installed_official() - self.thumbnails.keys()))

    def _installed_official(self) -> set[str]:
        return {style.name for style in self.registry.all()} & OFFICIAL_STYLES.keys()

    def checked_names(self) -> list[str]:
        items = (self.list.item(row) for row in range(self.list.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items if item.checkState() == Qt.CheckState.Checked]

    @property
    def busy(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def start_download(self) -> None:
        if self.busy:
            return
        names = self.checked_names()
        if not names:
            self.status.setText("Tick the styles to download first.")
            return
        self.progress.setValue(0)
        self.status.setText(f"Starting the download of {', '.join(names)}...")  # the "tick first" hint goes
        self.notes.clear()
        self.notes.hide()
        self.worker = DownloadThread(self.registry, names, self.endpoint, self)
        self.worker.progressed.connect(self._on_progress)
        self.worker.noticed.connect(self._on_notice)
        self.worker.installed.connect(self._on_installed)
        self.worker.failed.connect(lambda message: self.status.setText(linked(message)))
        self.worker.finished.connect(self._on_finished)
        self._set_busy(True)
        self.worker.start()

    def download(self, names: list[str]) -> None:
        """Tick ``names`` (those not installed yet) and start downloading them."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) in names and item.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                item.setCheckState(Qt.CheckState.Checked)
        self.start_download()

    def choose_import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder holding a style's head and bg model files")
        if folder:
            self.import_folder(Path(folder))

    def import_folder(self, folder: Path) -> None:
        """What ``livetoon styles import`` does, named after the one ticked style (else the folder)."""
        ticked = self.checked_names()
        try:
            style = self.registry.import_folder(folder, name=ticked[0] if len(ticked) == 1 else None)
        except LiveToonError as exc:
            self.status.setText(f"Not imported: {exc}")
            return
        self._on_installed(style.name)

    def cancel_download(self) -> None:
        if self.worker is not None and self.worker.isRunning():
            self.worker.cancel_event.set()
            self.status.setText("Cancelling...")

    def _set_busy(self, busy: bool) -> None:
        self.download_button.setEnabled(not busy)
        self.import_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.list.setEnabled(not busy)

    def _on_progress(self, name: str, done: int, total: int) -> None:
        self.progress.setValue(done * PROGRESS_STEPS // total if total else 0)
        self.status.setText(f"Downloading {name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")

    def _on_notice(self, message: str) -> None:
        self.notes.setText("\n".join(filter(None, (self.notes.text(), message))))
        self.notes.show()

    def _on_installed(self, name: str) -> None:
        self.status.setText(f"Installed {name!r}.")
        self._fill_list()
        self.styleInstalled.emit(name)

    def _on_finished(self) -> None:
        self._set_busy(False)
        if self.worker is not None:
            self.worker.deleteLater()
            self.worker = None
        if self._close_when_done:
            super().reject()

    def reject(self) -> None:
        """Close, or while downloading, cancel first and close once the thread has stopped."""
        if self.busy:
            self._close_when_done = True
            self.cancel_download()
            return
        super().reject()

    def shut_down(self) -> None:
        """The window is closing: no thread of this dialog may outlive it (Qt aborts the
        process when a running QThread is destroyed). A download is cancelled, which it
        notices within one chunk, leaving the styles folder untouched, and waited for."""
        if self.worker is not None:
            self.worker.cancel_event.set()
            self.worker.wait()
        self.done(QDialog.DialogCode.Rejected.value)

    def done(self, result: int) -> None:
        """Every way of closing ends here: the thumbnail thread stops first, within one style's
        render, because a QThread must not outlive its dialog."""
        if self.thumbnail_thread is not None:
            self.thumbnail_thread.rendered.disconnect()
            self.thumbnail_thread.finished.disconnect()
            self.thumbnail_thread.stop()
            self.thumbnail_thread = None
        super().done(result)
