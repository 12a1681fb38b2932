"""Runs the first-run measurement (``app.live.fitting_defaults``) off the GUI thread.

A plain daemon thread, as for the styles offer: a few seconds of timing must neither
freeze the window nor hold up closing it.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from PyQt6.QtCore import QObject, pyqtSignal

from dctnet.errors import LiveToonError
from dctnet.styles import StyleRegistry

from app.live.fitting_defaults import fit_defaults

log = logging.getLogger(__name__)


class DefaultsFitter(QObject):
    """``start`` times the candidates; ``fitted`` brings the :class:`Fit` to the GUI thread."""

    fitted = pyqtSignal(object)

    def __init__(self, registry: StyleRegistry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.registry = registry

    def start(self) -> None:
        threading.Thread(target=self._run, name="fit-defaults", daemon=True).start()

    def _run(self) -> None:
        try:
            fit = fit_defaults(self.registry)
        except LiveToonError as exc:  # a built-in style that does not load: keep the plain defaults
            log.warning("first-run settings not measured: %s", exc)
            fit = None
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile: nobody to tell
            self.fitted.emit(fit)
