"""The PyQt6 window (``livetoon gui``, or ``python main.py`` with no arguments)."""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    """Open the window on ``--input FILE`` / ``--camera N``, else the last or first source."""
    from PyQt6.QtWidgets import QApplication

    from .window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LiveToon")
    source = f"file:{args.input.resolve()}" if args.input else (f"camera:{args.camera}" if args.camera is not None else None)
    window = MainWindow(source=source)
    window.show()
    return app.exec()
