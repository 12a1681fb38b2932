"""Runs the first-run measurement (``app.live.fitting_defaults``) off the GUI thread.

A plain thread: seconds of timing must not freeze the window. Closing the window
cancels it and waits for the frame in hand (:meth:`DefaultsFitter.stop`): a thread
still inside torch or MediaPipe when the interpreter exits is killed mid-C++, and the
process aborts ("terminate called without an active exception") instead of quitting.

The timing runs on the source the window is about to show (``app.live.fit_timing``),
so it needs one: with no camera and no file the window fits when the user first opens one.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from PyQt6.QtCore import QObject, pyqtSignal

from common.errors import LiveToonError
from dctnet.styles import StyleRegistry

from app.live.fitting_defaults import Fit, FitCancelled, Measure, fit_defaults
from app.live.settings import LiveSettings, SourceSpec

log = logging.getLogger(__name__)


class DefaultsFitter(QObject):
    """``start`` times the candidates on ``spec``; ``fitted`` brings the :class:`Fit` (None:
    keep the plain defaults) to the GUI thread, ``frameMade`` each frame made meanwhile (the
    window paints it: the user sees what is tried, and painting is part of what is timed)."""

    fitted = pyqtSignal(object)
    frameMade = pyqtSignal(object)

    def __init__(self, registry: StyleRegistry, spec: SourceSpec, parent: QObject | None = None,
                 measure: Measure | None = None) -> None:
        super().__init__(parent)
        self.registry, self.spec, self.measure = registry, spec, measure
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
            fit = fit_defaults(self.registry, self.spec, self.cancel, self.measure, on_frame=self.frameMade.emit)
        except FitCancelled:
            return
        except LiveToonError as exc:  # a source that does not open or shows nothing, a style that does not load
            log.warning("first-run settings not measured: %s", exc)
            fit = None
        except Exception as exc:  # noqa: BLE001 - a bug or a library's failure in an optional measurement
            # must not leave the window waiting for a choice forever: it starts on the plain defaults.
            log.warning("first-run settings not measured (%s: %s); starting with the plain defaults",
                        type(exc).__name__, exc)
            fit = None
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile: nobody to tell
            self.fitted.emit(fit)


def still_holds(fit: Fit, settings: LiveSettings) -> bool:
    """Whether the window still runs what the first run chose (and its banner promised)."""
    return (settings.style, settings.max_size, settings.model_fps) == (fit.style, fit.max_size, fit.model_fps)
