"""The PyQt6 window (``livetoon gui``, or ``python main.py`` with no arguments)."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from app.live.settings import SourceSpec


def run(source: SourceSpec | None) -> NoReturn:
    """Open the window on ``source`` (``--input FILE`` / ``--camera N``), else the last or first source."""
    from app.gui.qt_platform import start_application

    app = start_application(sys.argv[:1])  # before any widget: OpenCV's Qt paths dropped, platform failures explained
    app.setApplicationName("LiveToon")
    from app.gui.window import MainWindow
    from app.process_setup import set_live_threads

    set_live_threads(True)  # process-wide, so here and once: the preview is painted on the GUI thread in every mode

    window = MainWindow(source=source) if source is not None else MainWindow()
    window.show()
    leave_now(app.exec())


def leave_now(code: int) -> NoReturn:
    """End the process as soon as the window has closed, skipping the interpreter's teardown.

    When the window closes, its ``closeEvent`` has already stopped the pipeline,
    finished any recording and saved the settings. What remains is Python tearing down
    its modules, which after ``import torch`` alone takes about 1.5 s of CPU here (2 s
    with the whole app and Qt, measured from the last ``atexit`` handler to the exit)
    and does nothing for the user: the window would be gone while the program lingers.
    """
    from common.native_log import exit_now

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    exit_now(code)  # os._exit, after the stderr filter forwarded its last lines
