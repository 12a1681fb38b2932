"""The QThread that runs a live session, so a slow model never freezes the window.

Frames cross to the GUI thread through a :class:`~app.handoff.NewestWins` slot plus a
signal that is only emitted when the GUI has taken the previous frame: if painting
falls behind, frames are skipped instead of piling up in Qt's event queue (which
would grow latency and memory without bound).
"""

from __future__ import annotations

import logging

from PyQt6.QtCore import QThread, pyqtSignal

from common.errors import LiveToonError

from app.handoff import NewestWins
from app.live.processor import LiveProcessor
from app.live.session import LiveSession
from app.live.sink_set import SinkSet
from app.live.settings import SourceSpec
from app.pipeline import Processed

log = logging.getLogger(__name__)


class LiveWorker(QThread):
    frameReady = pyqtSignal()
    sourceState = pyqtSignal(object, str)
    """(SourceState, detail), from a source thread to the GUI thread."""
    failed = pyqtSignal(str)
    deviceChanged = pyqtSignal(str)

    def __init__(self, source: SourceSpec, processor: LiveProcessor, sinks: SinkSet) -> None:
        """Opens (checks) ``source`` now, so a bad file raises here, in the GUI thread; a
        camera from the system's list that is busy is waited for instead."""
        super().__init__()
        self.setObjectName("live-pipeline")
        self.processor = processor
        self.session = LiveSession(source, processor, sinks, on_status=self.sourceState.emit,
                                   on_frame=self._on_frame, wait_for_camera=True)
        self._latest: NewestWins[Processed] = NewestWins()
        self._device_text = ""

    def _on_frame(self, processed: Processed) -> None:
        if self.processor.device_text != self._device_text:
            self._device_text = self.processor.device_text
            self.deviceChanged.emit(self._device_text)
        if self._latest.put(processed):  # the GUI took the previous one: tell it once
            self.frameReady.emit()

    def take_frame(self) -> Processed | None:
        """The newest processed frame (GUI thread); None when it was already taken."""
        return self._latest.take()

    def run(self) -> None:
        try:
            self.session.run()
        except LiveToonError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug, but the window must survive it and say so
            log.exception("live pipeline crashed")
            self.failed.emit(f"the live pipeline stopped: {type(exc).__name__}: {exc}")

    def stop(self, timeout_ms: int) -> bool:
        """Ask the session to stop and wait for the thread; True when it ended in time."""
        self.session.stop()
        return self.wait(timeout_ms)
