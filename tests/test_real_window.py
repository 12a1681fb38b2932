"""The window as a user runs it: ``livetoon gui`` from the installed wheel (and ``python main.py``)
on a real X server with Qt's ``xcb`` platform, looked at through screenshots of the screen.

The offscreen tests (``test_gui.py``) check the controls fast; these check what they
cannot: that the installed package opens a window at all (a subpackage missing from
the wheel, OpenCV's Qt paths, missing X libraries all broke it before), that the
screen shows the cartoon, and that closing the window ends the process.

The picture on the screen is compared with the clip's frames and with what the engine
makes of them: the change from the input frame to the screen must point the way the
stylization does (cosine of the two differences), which neither a black preview
(cosine about 0.3) nor the raw input (0) reaches.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.media.video_in import VideoReader
from dctnet.engine import Stylizer
from faces.finder import FaceDetector
from dctnet.styles import StyleRegistry
from tests.clips import write_clip
from tests.installed import REPO_ROOT, user_env
from tests.xserver import XServer, close_window, find_window, screenshot, window_geometry, xvfb

CLIP_SIZE = (320, 240)
PANEL_AND_STATUS = (340, 40)
"""The side panel's width and the status bar's height: the preview is the rest of the window."""
PREVIEW_BACKGROUND = (22, 18, 18)  # BGR of the preview's empty area
OVERLAY_ROWS = 16  # the fps readout covers the top of the picture
CLOSE_LIMIT_S = 2.0
FRAMES_TIMEOUT_S = 120


@dataclass(frozen=True)
class Looks:
    inputs: list[np.ndarray]
    cartoons: list[np.ndarray]


@pytest.fixture(scope="module")
def server():
    with xvfb() as running:
        yield running


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """One second, looped by the window: few frames keep the reference cartoons quick to make."""
    return write_clip(tmp_path_factory.mktemp("window") / "clip.mp4", frames=12, size=CLIP_SIZE, rate=Fraction(12), audio=())


@pytest.fixture(scope="module")
def looks(clip) -> Looks:
    """Each frame of the clip and the default style's cartoon of it (the window's defaults: toon, full)."""
    stylizer = Stylizer.from_style(StyleRegistry().get("toon"), device="cpu", mode="full")
    inputs, cartoons = [], []
    with VideoReader(clip) as reader, FaceDetector(static_image_mode=True) as detector:
        for frame in reader:
            inputs.append(frame.image)
            cartoons.append(stylizer.stylize(frame.image, detector.detect(frame.image)))
    return Looks(inputs, cartoons)


def preview_picture(shot: np.ndarray, geometry: tuple[int, int, int, int]) -> np.ndarray | None:
    """The picture drawn in the preview, scaled back to the clip's size (None while there is none)."""
    x, y, width, height = geometry
    area = shot[y:y + height - PANEL_AND_STATUS[1], x:x + width - PANEL_AND_STATUS[0]].astype(int)
    drawn = np.abs(area - np.array(PREVIEW_BACKGROUND)).sum(axis=-1) > 30
    rows, cols = np.flatnonzero(drawn.mean(axis=1) > 0.5), np.flatnonzero(drawn.mean(axis=0) > 0.5)
    if len(rows) < 50 or len(cols) < 50:
        return None
    picture = area[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.uint8)
    return cv2.resize(picture, CLIP_SIZE, interpolation=cv2.INTER_AREA)


def stylization_match(picture: np.ndarray, looks: Looks) -> tuple[float, float, float]:
    """(cosine, PSNR to the cartoon, PSNR to the input) for the clip frame the picture is closest to."""
    body = slice(OVERLAY_ROWS, None)
    shown = picture[body].astype(float)
    best = max(range(len(looks.inputs)), key=lambda k: cv2.PSNR(picture[body], looks.cartoons[k][body]))
    source, cartoon = looks.inputs[best][body].astype(float), looks.cartoons[best][body].astype(float)
    change, stylization = (shown - source).ravel(), (cartoon - source).ravel()
    cosine = float(change @ stylization / (np.linalg.norm(change) * np.linalg.norm(stylization) + 1e-9))
    return cosine, cv2.PSNR(picture[body], looks.cartoons[best][body]), cv2.PSNR(picture[body], looks.inputs[best][body])


def shows_the_cartoon(picture: np.ndarray | None, looks: Looks) -> bool:
    if picture is None or picture.mean() < 40:
        return False
    cosine, to_cartoon, to_input = stylization_match(picture, looks)
    return cosine > 0.5 and to_cartoon > to_input + 1


def run_window_and_close(server: XServer, command: list[str], cwd: Path, env: dict[str, str], looks: Looks, shots: Path) -> None:
    """Start the window, wait for the cartoon on the screen, close it as a user does, time the exit."""
    log = shots / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(command, cwd=cwd, env={**env, **server.env(), "QT_QPA_PLATFORM": "xcb"},
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        window = find_window(server, process.pid, "LiveToon")
        geometry = window_geometry(server, window)
        deadline = time.monotonic() + FRAMES_TIMEOUT_S
        shot = screenshot(server)
        while not shows_the_cartoon(preview_picture(shot, geometry), looks):
            assert process.poll() is None, f"the window died: {log.read_text()}"
            assert time.monotonic() < deadline, f"no cartoon on the screen within {FRAMES_TIMEOUT_S} s"
            time.sleep(1.0)
            shot = screenshot(server)
        cv2.imwrite(str(shots / "screen.png"), shot)
        picture = preview_picture(shot, geometry)
        cosine, to_cartoon, to_input = stylization_match(picture, looks)
        print(f"screen vs cartoon {to_cartoon:.1f} dB, vs input {to_input:.1f} dB, stylization cosine {cosine:.2f}")
        closed_at = time.monotonic()
        close_window(server, window)
        code = process.wait(timeout=30)
        took = time.monotonic() - closed_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    errors = log.read_text()
    assert code == 0 and "Traceback" not in errors, errors
    assert took < CLOSE_LIMIT_S, f"the process ended {took:.2f} s after the window was closed"


def returning_user(home: Path) -> dict[str, str]:
    """A user who chose the full look (toon) before: a first run would time this machine and may pick a lighter
    style (tests/test_window_streamer.py covers that). No styles server: the first-run offer stays quiet."""
    (home / ".config" / "LiveToon").mkdir(parents=True)
    (home / ".config" / "LiveToon" / "LiveToon.conf").write_text("[live]\nstyle=toon\n")
    return user_env(home, LIVETOON_HUB_ENDPOINT="http://127.0.0.1:9")


def test_installed_livetoon_gui_shows_the_cartoon_on_a_real_x_server(installed_wheel, server, clip, looks, tmp_path):
    env = returning_user(tmp_path)
    run_window_and_close(server, [str(installed_wheel.livetoon), "gui", "--input", str(clip)], tmp_path, env, looks, tmp_path)


def test_python_main_py_shows_the_cartoon_on_a_real_x_server(server, clip, looks, tmp_path):
    env = returning_user(tmp_path)
    run_window_and_close(server, [sys.executable, "main.py", "gui", "--input", str(clip)], REPO_ROOT, env, looks, tmp_path)
