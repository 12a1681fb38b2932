"""Runs the first-run measurement (``app.live.fitting_defaults``) off the GUI thread.

A plain thread: a few seconds of timing must not freeze the window. Closing the window
cancels it and waits for the frame in hand (:meth:`DefaultsFitter.stop`): a thread
still inside torch or MediaPipe when the interpreter exits is killed mid-C++, and the
process aborts ("terminate called without an active exception") instead of quitting.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from PyQt6.QtCore import QObject, pyqtSignal

from dctnet.errors import LiveToonError
from dctnet.styles import StyleRegistry

from app.live.fitting_defaults import FitCancelled, fit_defaults

log = logging.getLogger(__name__)


class DefaultsFitter(QObject):
    """``start`` times the candidates; ``fitted`` brings the :class:`Fit` to the GUI thread."""

    fitted = pyqtSignal(object)

    def __init__(self, registry: StyleRegistry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fit-defaults", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Cancel, and wait for the frame being timed (seconds at most, on a slow CPU)."""
        self.cancel.set()
        if self.thread.is_alive():
            self.thread.join()

    def _run(self) -> None:
        try:
            fit = fit_defaults(self.registry, self.cancel)
        except FitCancelled:
            return
        except LiveToonError as exc:  # a built-in style that does not load: keep the plain defaults
            log.warning("first-run settings not measured: %s", exc)
            fit = None
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile: nobody to tell
            self.fitted.emit(fit)
