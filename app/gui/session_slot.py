"""The window's live sessions, one at a time, even when stopping the old one takes too long.

Every session of the window shares its ``LiveProcessor``, and a session's ``finally``
closes it. So a session that did not stop within the window's limit ("a slow stop":
a hung driver, a model run of seconds) must end before the next one starts: the next
waits here and starts when the slow one's thread has finished, and one replaced while
it waits is dropped with its source closed (issue 30, item 14).
"""

from __future__ import annotations

from PyQt6.QtCore import QObject

from app.gui.worker import LiveWorker


class SessionSlot(QObject):
    """Holds the window's session (``worker``) and the one still stopping (``stopping``)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker: LiveWorker | None = None
        """The session the window shows: running, or waiting for a slow stop to end."""
        self.stopping: LiveWorker | None = None
        """A session that did not stop in time: it still uses the processor (and closes it when
        it ends), so the next one starts only then."""

    def start(self, worker: LiveWorker, timeout_ms: int) -> bool:
        """Stop the session (waiting up to ``timeout_ms``) and put ``worker`` in its place;
        True when it started now, False when it waits for a slow stop to end."""
        self.stop(timeout_ms)
        self.worker = worker
        if self.stopping is None:
            worker.start()
        return self.stopping is None

    def stop(self, timeout_ms: int) -> bool:
        """Stop the session; True when it ended within ``timeout_ms``. One that did not is kept
        in ``stopping`` until it ends: no session starts beside it."""
        worker, self.worker = self.worker, None
        if worker is not None and not worker.isRunning() and not worker.isFinished():
            worker.session.source.close()  # waited for a slow stop and was never started
        elif worker is not None and not worker.stop(timeout_ms):
            self.stopping = worker
            worker.finished.connect(self._slow_stop_ended)  # a queued call: the slot lives on the GUI thread
            self._slow_stop_ended()  # in case it ended before the connection
        return self.stopping is None

    def _slow_stop_ended(self) -> None:
        if self.stopping is None or not self.stopping.isFinished():
            return
        self.stopping = None
        if self.worker is not None and not self.worker.isRunning() and not self.worker.isFinished():
            self.worker.start()
