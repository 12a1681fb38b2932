"""Cameras: which exist (by index and name) and one opened at a capture mode.

Names come from V4L2 on Linux; elsewhere there is no device list to read, so the
first few indices are tried. :class:`OpenCVCamera` is the :class:`~app.live.contracts.Grabber`
for a camera; :mod:`app.live.sources` watches it and reconnects.
"""

from __future__ import annotations

import contextlib
import platform
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.live.contracts import SourceError

SYSFS_VIDEO = Path("/sys/class/video4linux")
PROBE_INDICES = range(6)
"""Where there is no device list to read (Windows, macOS), these indices are tried."""


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.index})"


def _sysfs_cameras(root: Path) -> list[CameraInfo]:
    """V4L2 capture nodes with their names; metadata nodes (``index`` != 0) are skipped."""
    cameras = []
    for node in sorted(root.glob("video*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0)):
        index_file = node / "index"
        if index_file.exists() and index_file.read_text().strip() not in ("", "0"):
            continue
        name_file = node / "name"
        name = name_file.read_text().strip() if name_file.exists() else node.name
        cameras.append(CameraInfo(int(re.sub(r"\D", "", node.name)), name))
    return cameras


def camera_api() -> int:
    """The capture backend that opens fast and honours MJPG on each OS."""
    return {"Linux": cv2.CAP_V4L2, "Windows": cv2.CAP_DSHOW, "Darwin": cv2.CAP_AVFOUNDATION}.get(
        platform.system(), cv2.CAP_ANY)


@contextlib.contextmanager
def opencv_quiet() -> Iterator[None]:
    """OpenCV's own log silenced: each missing camera index would print a warning."""
    previous = cv2.getLogLevel()
    cv2.setLogLevel(0)
    try:
        yield
    finally:
        cv2.setLogLevel(previous)


def list_cameras() -> list[CameraInfo]:
    """Cameras by index and name (V4L2 names on Linux; elsewhere 'Camera N' for each that opens)."""
    if platform.system() == "Linux":
        return _sysfs_cameras(SYSFS_VIDEO) if SYSFS_VIDEO.is_dir() else []
    found = []
    with opencv_quiet():
        for index in PROBE_INDICES:
            cap = cv2.VideoCapture(index, camera_api())
            if cap.isOpened():
                found.append(CameraInfo(index, f"Camera {index}"))
            cap.release()
    return found


def camera_list_text(cameras: list[CameraInfo]) -> str:
    return ", ".join(c.label for c in cameras) or "none found"


def resolve_camera(spec: str, cameras: list[CameraInfo] | None = None) -> CameraInfo:
    """A camera from an index ("0") or a case-insensitive part of its name ("logitech").

    An index needs no list (probing for one opens every camera on Windows and macOS)."""
    if spec.strip().isdigit():
        index = int(spec)
        return next((c for c in cameras or [] if c.index == index), CameraInfo(index, f"Camera {index}"))
    cameras = list_cameras() if cameras is None else cameras
    matches = [c for c in cameras if spec.lower() in c.name.lower()]
    if len(matches) == 1:
        return matches[0]
    known = camera_list_text(cameras)
    if not matches:
        raise SourceError(f"no camera named {spec!r} (cameras: {known})")
    raise SourceError(f"{spec!r} matches several cameras ({', '.join(c.label for c in matches)}); use the index")


def check_camera_opens(camera: CameraInfo, width: int, height: int, fps: float) -> None:
    """Open the camera once before going live. One that never opened is a wrong index
    (fail with the cameras that exist); reconnecting is for a camera that was live."""
    try:
        OpenCVCamera(camera.index, width, height, fps).close()
    except SourceError as exc:
        raise SourceError(f"{exc} (cameras: {camera_list_text(list_cameras())})") from exc


class OpenCVCamera:
    """A camera opened with MJPG at the asked size and rate, with a 1-frame driver buffer.

    MJPG matters: raw YUYV at 1080p is limited by USB bandwidth to a few fps.
    ``size`` and ``nominal_fps`` are what the driver really granted, read back.
    """

    repeats_mean_frozen = True

    def __init__(self, index: int, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        with opencv_quiet():  # a missing index makes OpenCV print raw "[ WARN...]" lines
            self.cap = cv2.VideoCapture(index, camera_api())
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceError(f"cannot open camera {index} (unplugged, or in use by another program?)")
        self.cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.cap.set(cv2.CAP_PROP_FPS, fps)
        self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self.size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.nominal_fps = float(self.cap.get(cv2.CAP_PROP_FPS) or fps)
        self.label = f"camera {index} {self.size[0]}x{self.size[1]}"

    def read(self) -> np.ndarray:
        ok, frame = self.cap.read()
        if not ok or frame is None:
            raise SourceError("the camera stopped delivering frames")
        return frame

    def close(self) -> None:
        self.cap.release()
