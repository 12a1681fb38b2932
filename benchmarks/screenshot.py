"""Screenshot of the running window for the README: ``xvfb-run -s "-screen 0 1600x900x24" python -m benchmarks.screenshot``.

The window runs on a head-and-shoulders clip (``benchmarks.talking_clip``) with the
built-in style in the side-by-side preview, waits until frames have been processed and the
fps readout has settled, then grabs the window as a real X server drew it (fonts,
styles and scaling as a user sees them, unlike the offscreen platform).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication

from app.gui.window import MainWindow
from benchmarks.talking_clip import head_motion_frames
from tests.clips import write_clip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the window runs before the grab")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "talking.mp4", images=head_motion_frames(90, 640, 360),
                          size=(640, 360), rate=Fraction(30), audio=())
        store = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        store.setValue("window/preview", "side by side")
        window = MainWindow(store=store, source=f"file:{clip}")
        window.resize(1500, 820)
        window.move(0, 0)
        window.show()
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.02)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(args.output))
        window.close()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
