"""The PyQt6 window (``livetoon gui``, or ``python main.py`` with no arguments)."""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    """Open the window on ``--input FILE`` / ``--camera N``, else the last or first source."""
    from .qt_platform import start_application

    app = start_application(sys.argv[:1])  # before any widget: OpenCV's Qt paths dropped, platform failures explained
    app.setApplicationName("LiveToon")
    from .window import MainWindow

    source = f"file:{args.input.resolve()}" if args.input else (f"camera:{args.camera}" if args.camera is not None else None)
    window = MainWindow(source=source)
    window.show()
    return app.exec()
