"""Getting Qt's platform plugin to open a window, and saying how to fix it when it cannot.

Two things stand between ``pip install`` and a window on Linux, and both are handled
here, once, where the window starts (``livetoon gui``, ``python main.py``), never in
the modules that happen to import OpenCV or Qt:

* OpenCV's non-headless wheel (``opencv-contrib-python``, which mediapipe pulls in)
  sets ``QT_QPA_PLATFORM_PLUGIN_PATH`` and ``QT_QPA_FONTDIR`` to its own bundled *Qt 5*
  plugins and fonts the moment ``cv2`` is imported (``cv2/config-3.py``). PyQt6 is
  Qt 6 and must use its own. With OpenCV 4.11 and PyQt6 6.11, Qt searches OpenCV's
  folder first (``QT_DEBUG_PLUGINS=1`` shows it), finds no Qt 6 plugin there and falls
  back to its own; but when anything else goes wrong it names OpenCV's folder in its
  abort ("Could not load the Qt platform plugin "xcb" in ".../cv2/qt/plugins""), and
  an OpenCV build whose plugin sat where Qt looks would be loaded into a Qt 6
  process. We drop the two variables when they point into OpenCV's folder, so a
  value a user set on purpose is kept.
* PyQt6's ``xcb`` plugin needs X libraries that a fresh Debian or Ubuntu does not have
  (``libxcb-cursor0`` and friends, found with ``ldd`` on ``libqxcb.so``). Qt's own
  answer is an abort with advice that is often wrong (it names ``libxcb-cursor0`` even
  when the display is the problem), so we list what ``ldd`` says is missing and print
  the one ``apt install`` line that fixes it.

Nothing here imports Qt at module level: ``livetoon doctor`` uses it without a display.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

from common.native_log import exit_now

if TYPE_CHECKING:
    from PyQt6.QtWidgets import QApplication

OPENCV_QT_VARIABLES = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")
EXIT_WINDOW_FAILED = 1

DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
"""Shared libraries that PyQt6's ``libqxcb.so`` links (``ldd``), and the Debian/Ubuntu package of each."""


def drop_opencv_qt_paths(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Remove the Qt variables that OpenCV's wheel pointed at its own Qt 5 copy; returns their names.

    ``cv2`` is imported first on purpose: its ``config-3.py`` sets the variables on
    import, so whatever the app imported before (or imports later), they are gone
    from here on.
    """
    import cv2

    opencv_dir = Path(cv2.__file__).resolve().parent
    dropped = []
    for name in OPENCV_QT_VARIABLES:
        value = environ.get(name)
        if value and Path(value).resolve().is_relative_to(opencv_dir):
            del environ[name]
            dropped.append(name)
    return dropped


def xcb_plugin() -> Path | None:
    """PyQt6's own X11 platform plugin, or None when PyQt6 (or the plugin) is absent."""
    spec = importlib.util.find_spec("PyQt6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(list(spec.submodule_search_locations)[0]) / "Qt6" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def uses_xcb(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Whether Qt will try X11 here: Linux, and no other platform asked for."""
    return sys.platform.startswith("linux") and environ.get("QT_QPA_PLATFORM", "xcb").startswith("xcb")


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries ``plugin`` needs that the dynamic loader cannot load, as ``ldd`` reports them.

    ``ldd`` runs with this process's environment (``LD_LIBRARY_PATH`` included), so it
    sees what Qt's ``dlopen`` will see: ``not found`` for absent libraries and an
    "error while loading shared libraries" line for one that is present but broken.
    """
    try:
        result = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []  # no ldd (or it hung): no diagnosis, Qt's own reason is reported instead
    report = result.stdout + result.stderr
    broken = [Path(path).name for path in re.findall(r"error while loading shared libraries: (\S+?): ", report)]
    absent = re.findall(r"^\s*(\S+) => not found", report, re.MULTILINE)
    return list(dict.fromkeys(broken + absent))


def apt_install_line(missing: list[str]) -> str:
    """``sudo apt install ...`` for the libraries we know the package of, and a note for the others."""
    packages = list(dict.fromkeys(DEBIAN_PACKAGES[name] for name in missing if name in DEBIAN_PACKAGES))
    unknown = [name for name in missing if name not in DEBIAN_PACKAGES]
    line = f"sudo apt install {' '.join(packages)}" if packages else ""
    if unknown:
        line += f"{' and ' if line else ''}a package providing {', '.join(unknown)}"
    return line


def xcb_fix(missing: list[str]) -> str:
    """The one line ``livetoon doctor`` and ``livetoon gui`` print when the X11 plugin cannot load."""
    return f"the window cannot open: Qt's X11 plugin needs {', '.join(missing)}; fix: {apt_install_line(missing)}"


def xcb_missing_libraries() -> list[str]:
    """What the X11 plugin lacks on this machine ([] when nothing, or when X11 is not used)."""
    plugin = xcb_plugin() if uses_xcb() else None
    return missing_libraries(plugin) if plugin is not None else []


def explain_failure(qt_messages: list[str], fatal: str) -> str:
    """Why Qt could not start, as one line with the fix: missing libraries first, then the display."""
    missing = xcb_missing_libraries()
    if missing:
        return xcb_fix(missing)
    if any("could not connect to display" in text for text in qt_messages):
        shown = f"X display {os.environ['DISPLAY']!r}" if os.environ.get("DISPLAY") else "X display (DISPLAY is not set)"
        return (f"the window cannot open: no {shown} to connect to; run it in a desktop session, "
                "or use the commands without a window (`livetoon live`, `convert`, `image`)")
    plugin_messages = [text for text in qt_messages if text.startswith("qt.qpa")]
    return f"the window cannot open: {(plugin_messages or [fatal.strip()])[-1].splitlines()[0]}"


def start_application(argv: list[str]) -> QApplication:
    """The QApplication, started so that a platform failure ends in one ``livetoon: error:`` line.

    Qt reports a platform plugin it cannot start with ``qFatal`` and then aborts the
    process: no Python exception is raised that ``main`` could catch. So while the
    application starts, Qt's messages come to us; a fatal one is turned into the one
    line with the fix and the process ends with exit 1 there and then (nothing is
    running yet that would need cleaning up). Other messages are printed afterwards
    as Qt would have.
    """
    drop_opencv_qt_paths()
    from PyQt6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler
    from PyQt6.QtWidgets import QApplication

    held: list[str] = []

    def on_message(kind: QtMsgType, context: QMessageLogContext, text: str) -> None:
        if kind == QtMsgType.QtFatalMsg:
            print(f"livetoon: error: {explain_failure(held, text)}", file=sys.stderr, flush=True)
            exit_now(EXIT_WINDOW_FAILED)
        held.append(f"{context.category}: {text}" if context.category not in (None, "default") else text)

    qInstallMessageHandler(on_message)
    try:
        app = QApplication.instance() or QApplication(argv)
    finally:
        qInstallMessageHandler(None)
    for text in held:
        print(text, file=sys.stderr)
    return app
