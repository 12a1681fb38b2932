"""Qt beside OpenCV, and the one line that says how to fix a window that cannot open.

A machine without ``libxcb-cursor0`` is made for the child process only: a folder on
``LD_LIBRARY_PATH`` holds a broken file by that library's name, so the dynamic loader
finds it first and fails exactly as Qt's ``dlopen`` of the X11 plugin does on such a
machine. No system package is touched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from app.gui.qt_platform import OPENCV_QT_VARIABLES, apt_install_line, drop_opencv_qt_paths, xcb_missing_libraries, xcb_plugin
from tests.conftest import REPO_ROOT
from tests.clips import write_clip
from tests.test_cli_image import assert_clean_failure

OPENCV_DIR = Path(cv2.__file__).resolve().parent


def run_main(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": env.get("HOME", "/nonexistent"), "QT_QPA_PLATFORM": "xcb"}
    return subprocess.run([sys.executable, str(REPO_ROOT / "main.py"), *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env={**base, **env}, timeout=300)


@pytest.fixture
def without_xcb_cursor(tmp_path) -> dict[str, str]:
    """An environment in which libxcb-cursor.so.0 cannot be loaded."""
    if xcb_plugin() is None:
        pytest.skip("PyQt6 has no X11 platform plugin on this system")
    stubs = tmp_path / "broken-libs"
    stubs.mkdir()
    (stubs / "libxcb-cursor.so.0").write_text("not a shared library\n")
    return {"LD_LIBRARY_PATH": str(stubs), "HOME": str(tmp_path), "LIVETOON_DATA_DIR": str(tmp_path / "data")}


def test_importing_opencv_points_qt_at_its_own_qt5_and_the_window_start_undoes_it():
    seen = subprocess.run([sys.executable, "-c", "import os, cv2; print(os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH'))"],
                          capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout.strip()
    assert Path(seen).resolve().is_relative_to(OPENCV_DIR), "the OpenCV wheel this fix is for sets the variable on import"
    environ = {"QT_QPA_PLATFORM_PLUGIN_PATH": str(OPENCV_DIR / "qt" / "plugins"), "QT_QPA_FONTDIR": str(OPENCV_DIR / "qt" / "fonts")}
    assert drop_opencv_qt_paths(environ) == list(OPENCV_QT_VARIABLES) and environ == {}
    mine = {"QT_QPA_PLATFORM_PLUGIN_PATH": "/opt/my-qt/plugins"}
    assert drop_opencv_qt_paths(mine) == [] and mine == {"QT_QPA_PLATFORM_PLUGIN_PATH": "/opt/my-qt/plugins"}, \
        "a path the user set stays"


def test_apt_line_names_debian_packages_and_what_it_cannot_map():
    assert apt_install_line(["libxcb-cursor.so.0", "libxcb-icccm.so.4"]) == "sudo apt install libxcb-cursor0 libxcb-icccm4"
    assert apt_install_line(["libxcb-keysyms.so.1", "libodd.so.3"]) == \
        "sudo apt install libxcb-keysyms1 and a package providing libodd.so.3"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("qt") / "clip.mp4", frames=4, audio=())


def test_gui_without_libxcb_cursor_prints_the_apt_line(without_xcb_cursor, clip):
    result = run_main("gui", "--input", str(clip), env=without_xcb_cursor)
    assert_clean_failure(result, "libxcb-cursor.so.0", "sudo apt install libxcb-cursor0")
    assert result.returncode == 1, "exit 1, not Qt's abort (134)"


def test_doctor_without_libxcb_cursor_prints_the_same_line(without_xcb_cursor, clip):
    gui_line = run_main("gui", "--input", str(clip), env=without_xcb_cursor).stderr.strip()
    doctor = run_main("doctor", env=without_xcb_cursor)
    assert doctor.returncode == 0, "the commands without a window still work: a warning, not a failure"
    window = [line for line in doctor.stdout.splitlines() if line.startswith("[warn] window")]
    assert window and window[0].split(None, 2)[2] == gui_line.removeprefix("livetoon: error: "), (doctor.stdout, gui_line)


def test_gui_without_a_display_says_so(tmp_path, clip):
    if xcb_plugin() is None or xcb_missing_libraries():
        pytest.skip("the X11 plugin cannot load here, so that is what gets reported (tested above)")
    result = run_main("gui", "--input", str(clip), env={"HOME": str(tmp_path), "LIVETOON_DATA_DIR": str(tmp_path / "data")})
    assert_clean_failure(result, "no X display (DISPLAY is not set)")
