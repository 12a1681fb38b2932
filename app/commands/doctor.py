"""``livetoon doctor``: what works on this machine, and the exact fix for what does not.

Each check returns ``(ok, text)``; the report prints them all and fails (exit 1)
only when something LiveToon cannot run without is broken. A missing virtual-camera
backend is reported with its fix but is not fatal: files and streams still work.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from dctnet.device import cuda_unavailable_reason
from common.errors import LiveToonError
from dctnet.styles import DEFAULT_STYLE, StyleRegistry

from app.gui.qt_platform import xcb_fix, xcb_missing_libraries
from app.live.sinks import virtual_camera_fix

Check = tuple[bool, str]
FACE_MODEL_FILES = (
    "modules/face_detection/face_detection_short_range.tflite",
    "modules/face_landmark/face_landmark_with_attention.tflite",
    "modules/selfie_segmentation/selfie_segmentation.tflite",
)


def check_python() -> Check:
    return True, f"Python {platform.python_version()} on {platform.system()} {platform.machine()}"


def check_torch() -> Check:
    reason = cuda_unavailable_reason()
    if reason is None:
        name = torch.cuda.get_device_name(0)
        return True, f"torch {torch.__version__}, CUDA {torch.version.cuda}: {name} will be used"
    return True, f"torch {torch.__version__}: CPU will be used, because {reason}"


def check_mediapipe() -> Check:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return False, "mediapipe is not installed: pip install mediapipe==0.10.21"
    root = Path(list(spec.submodule_search_locations)[0])
    missing = [f for f in FACE_MODEL_FILES if not (root / f).is_file()]
    if missing:
        return False, f"mediapipe at {root} lacks its face models ({', '.join(missing)}): pip install mediapipe==0.10.21"
    import mediapipe

    return True, f"mediapipe {mediapipe.__version__}: face detection, face mesh and segmentation models present"


def check_styles() -> Check:
    registry = StyleRegistry()
    styles = registry.all()
    if DEFAULT_STYLE not in {s.name for s in styles}:
        return False, f"the built-in style {DEFAULT_STYLE!r} is missing from {registry.builtin_dir}: reinstall livetoon"
    broken = []
    for style in styles:
        try:
            style.load()
        except LiveToonError as exc:
            broken.append(f"{style.name} ({exc})")
    names = ", ".join(f"{s.name}{'' if s.builtin else ' (user)'}" for s in styles)
    if broken:
        return False, f"styles: {names}; broken: {'; '.join(broken)}"
    return True, f"styles: {names}; user styles in {registry.user_dir}"


def check_virtual_camera() -> Check:
    try:
        import pyvirtualcam
    except ImportError:
        return False, "pyvirtualcam is not installed: pip install pyvirtualcam"
    try:
        with pyvirtualcam.Camera(width=320, height=240, fps=30) as cam:
            return True, f"virtual camera available: {cam.device} ({cam.backend})"
    except Exception as exc:  # pyvirtualcam raises RuntimeError/ValueError/OSError depending on backend
        return False, f"virtual camera unavailable ({str(exc).splitlines()[0]}): {virtual_camera_fix().prose}"


WINDOW_PROBE = (
    "import sys; from PyQt6.QtCore import qVersion; from app.gui.qt_platform import start_application; "
    "app = start_application(sys.argv[:1]); print(qVersion(), app.platformName())"
)
"""Starts Qt the way ``livetoon gui`` does, in a child: a platform failure ends the process it happens in."""


def check_window() -> Check:
    """Whether Qt's platform plugin loads and a window can open, with the fix when not."""
    missing = xcb_missing_libraries()
    if missing:
        return False, xcb_fix(missing)
    package_root = str(Path(__file__).resolve().parents[2])  # `app` importable in the child from a clone too
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))}
    try:
        probe = subprocess.run([sys.executable, "-c", WINDOW_PROBE], capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "the window cannot open: Qt did not start within 120 s"
    if probe.returncode != 0:
        errors = [line for line in probe.stderr.splitlines() if line.startswith("livetoon: error: ")]
        return False, errors[-1].removeprefix("livetoon: error: ") if errors else f"Qt failed: {probe.stderr.strip()[-300:]}"
    version, platform_name = probe.stdout.split()[-2:]
    where = f", display {os.environ['DISPLAY']}" if platform_name == "xcb" else ""
    return True, f"Qt {version}: the window opens (platform {platform_name}{where})"


PRIVACY = ("default settings: outputs carry only stylized frames or a card, never a raw camera pixel "
           "(docs/privacy.md); not covered: strength below 100% mixes the camera in inside the person, mode "
           "'face' stylizes the face only, background 'blur' is the room blurred, Bypass with 'RAW camera to "
           "the outputs' ticked, and the window's preview")


def check_privacy() -> Check:
    """Not a probe: what LiveToon guarantees about the camera picture, where a user looks first."""
    return True, PRIVACY


CHECKS: tuple[tuple[str, Callable[[], Check], bool], ...] = (
    ("privacy", check_privacy, False),
    ("python", check_python, True),
    ("torch", check_torch, True),
    ("mediapipe", check_mediapipe, True),
    ("styles", check_styles, True),
    ("window", check_window, False),
    ("virtual camera", check_virtual_camera, False),
)


def run(args: argparse.Namespace | None = None) -> int:
    fatal = False
    for label, check, required in CHECKS:
        ok, text = check()
        mark = "ok  " if ok else ("FAIL" if required else "warn")
        print(f"[{mark}] {label:15s} {text}")
        fatal |= required and not ok
    sys.stdout.flush()
    return 1 if fatal else 0
