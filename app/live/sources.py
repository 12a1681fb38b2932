"""Live frame sources: cameras (by name or index) and video files standing in for one.

A webcam is an unreliable device: USB cables get pulled, drivers hang inside
``read()``, and OpenCV may keep handing back the last frame of a dead camera. So a
live source is two layers:

* a :class:`Grabber` talks to one opened device and either returns the next frame or
  raises :class:`SourceError` (``OpenCVCamera`` for cameras, ``LoopedFile`` for a
  video file looped and paced at its own rate);
* :class:`WatchedSource` owns the reconnect policy: it reads the grabber on a thread
  of its own, notices death (an exception), a hang (no frame for ``stall_seconds``)
  and a freeze (identical frames, cameras only), reports ``lost``, and reopens with
  backoff until the device is back. A hung ``read()`` cannot be interrupted from
  Python, so that connection is abandoned (its thread exits when the call returns)
  and a new one is opened beside it.
"""

from __future__ import annotations

import contextlib
import platform
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from dctnet.errors import LiveToonError

from app.frames import VideoFrame
from app.files.video_in import VideoReader
from app.workers import first_line

SYSFS_VIDEO = Path("/sys/class/video4linux")
PROBE_INDICES = range(6)
"""Where there is no device list to read (Windows, macOS), these indices are tried."""
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0)
STALL_SECONDS = 2.0
MAX_ABANDONED = 3
"""Connections stuck in a driver call we wait out before opening yet another one."""


class SourceError(LiveToonError):
    """The source cannot deliver frames (not found, unplugged, hung, unreadable)."""


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
    """A camera from an index ("0") or a case-insensitive part of its name ("logitech")."""
    cameras = list_cameras() if cameras is None else cameras
    if spec.strip().isdigit():
        index = int(spec)
        return next((c for c in cameras if c.index == index), CameraInfo(index, f"Camera {index}"))
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


class Grabber(Protocol):
    """One opened device. ``read`` blocks for the next frame or raises SourceError."""

    label: str
    repeats_mean_frozen: bool
    """True for cameras: a real sensor never returns two identical frames."""

    def read(self) -> np.ndarray: ...

    def close(self) -> None: ...


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


class LoopedFile:
    """A video file as a camera: frames paced at the file's own timestamps, looped forever."""

    repeats_mean_frozen = False  # a still title card is not a dead camera

    def __init__(self, path: Path, loop: bool = True) -> None:
        self.path, self.loop = Path(path), loop
        self.reader = VideoReader(self.path)
        self.label = f"{self.path.name} {self.reader.width}x{self.reader.height}"
        self._frames = iter(self.reader)
        self._clock_start = time.perf_counter()
        self._offset = 0.0  # seconds of the loops already played
        self._last_end = 0.0

    def read(self) -> np.ndarray:
        frame = next(self._frames, None)
        if frame is None:
            if not self.loop:
                raise SourceError(f"{self.path.name}: end of file")
            self._offset += self._last_end
            self.reader.close()
            self.reader = VideoReader(self.path)
            self._frames = iter(self.reader)
            frame = next(self._frames)
        self._last_end = frame.time + float(1 / self.reader.rate)
        delay = self._clock_start + self._offset + frame.time - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        return frame.image

    def close(self) -> None:
        self.reader.close()


def frame_signature(image: np.ndarray) -> int:
    """A cheap fingerprint; equal fingerprints on a camera mean a frozen driver."""
    return zlib.crc32(np.ascontiguousarray(image[::8, ::8]).data)


class Mailbox:
    """The newest frame only (a driver buffer of one), with the time it arrived."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.item: tuple[int, np.ndarray, float] | None = None

    def put(self, generation: int, image: np.ndarray) -> None:
        with self.cond:
            self.item = (generation, image, time.perf_counter())
            self.cond.notify()

    def clear(self) -> None:
        with self.cond:
            self.item = None

    def take(self, timeout: float) -> tuple[int, np.ndarray, float] | None:
        with self.cond:
            if self.item is None:
                self.cond.wait(timeout)
            item, self.item = self.item, None
            return item


class WatchedSource:
    """Frames from a grabber that may die, hang or freeze; reconnects with backoff.

    ``on_status(state, detail)`` is called on every change, with ``state`` one of
    ``connecting``, ``live`` or ``lost``, from the consumer's thread or a connection
    thread. ``fps`` is the rate measured over the last second of frames.
    """

    def __init__(
        self,
        open_grabber: Callable[[], Grabber],
        on_status: Callable[[str, str], None] | None = None,
        stall_seconds: float = STALL_SECONDS,
        backoff: tuple[float, ...] = BACKOFF_SECONDS,
    ) -> None:
        self.open_grabber = open_grabber
        self.on_status = on_status or (lambda state, detail: None)
        self.stall_seconds, self.backoff = stall_seconds, backoff
        self.state, self.detail = "connecting", ""
        self.reconnects = 0
        self.label = ""
        self._lock = threading.Lock()
        self._generation = 0
        self._heartbeat = time.perf_counter()
        self._lost_at = 0.0
        self._signature: int | None = None  # kept across reconnects: a dead camera may reopen frozen
        self._mailbox = Mailbox()
        self._arrivals: deque[float] = deque(maxlen=240)
        self._threads: list[threading.Thread] = []
        self._halt = threading.Event()

    @property
    def fps(self) -> float:
        """Frames per second that arrived over the last second (0 when none)."""
        now = time.perf_counter()
        times = [t for t in list(self._arrivals) if t > now - 1.0]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 and times[-1] > times[0] else 0.0

    def _set_state(self, state: str, detail: str, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return  # an abandoned connection has nothing to say any more
            if (state, detail) == (self.state, self.detail):
                return
            self.state, self.detail = state, detail
            if state == "lost":
                self._lost_at = time.perf_counter()
                self._mailbox.clear()  # a frame from before the loss must not revive the picture
        self.on_status(state, detail)

    def _current(self, generation: int) -> bool:
        return generation == self._generation

    def _beat(self, generation: int) -> float:
        """The connection is not stuck in a driver call; returns the time."""
        now = time.perf_counter()
        if self._current(generation):
            self._heartbeat = now
        return now

    def _connect(self, generation: int, halt: threading.Event) -> None:
        """One connection's life: open (with backoff), read until it fails, repeat."""
        attempt = 0
        while not halt.is_set() and self._current(generation):
            self._beat(generation)
            try:
                grabber = self.open_grabber()
            except Exception as exc:  # noqa: BLE001 - the worker policy: a driver's own error type is a lost camera too
                self._set_state("lost", first_line(exc), generation)
                self._beat(generation)
                halt.wait(self.backoff[min(attempt, len(self.backoff) - 1)])
                attempt += 1
                continue
            attempt = 0
            self.label = grabber.label
            try:
                self._read(grabber, generation, halt)
            except Exception as exc:  # noqa: BLE001 - as above (cv2.error, av errors, bugs)
                self._set_state("lost", first_line(exc), generation)
                self._beat(generation)
                halt.wait(self.backoff[0])
            finally:
                grabber.close()

    def _read(self, grabber: Grabber, generation: int, halt: threading.Event) -> None:
        fresh = self._beat(generation)
        while not halt.is_set() and self._current(generation):
            image = grabber.read()
            now = self._beat(generation)
            if grabber.repeats_mean_frozen:
                self._signature, previous = frame_signature(image), self._signature
                if self._signature == previous:
                    if now - fresh > self.stall_seconds:
                        raise SourceError(f"the camera froze (the same picture for {now - fresh:.1f} s)")
                    continue
            fresh = now
            self._mailbox.put(generation, image)

    def _start_connection(self, halt: threading.Event) -> None:
        with self._lock:
            self._generation += 1
            generation = self._generation
        self._heartbeat = time.perf_counter()
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=self._connect, args=(generation, halt), name=f"source-{generation}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def frames(self, stop: threading.Event) -> Iterator[VideoFrame]:
        """Newest frames until ``stop`` is set; device loss does not end it (it reconnects).

        A frame's ``time`` is the ``time.perf_counter()`` of its arrival, so anyone can
        tell which frames were captured after a given moment.
        """
        halt = self._halt = threading.Event()
        self._set_state("connecting", "")
        self._start_connection(halt)
        index = 0
        try:
            while not stop.is_set():
                item = self._mailbox.take(timeout=0.1)
                if item is None or not self._current(item[0]) or item[2] < self._lost_at:
                    self._watch(halt)
                    continue
                _, image, arrived = item
                self._arrivals.append(arrived)
                if self.state == "lost":
                    self.reconnects += 1
                self._set_state("live", self.label)
                yield VideoFrame(image, index, arrived, index)  # time: perf_counter() at arrival
                index += 1
        finally:
            halt.set()

    def _watch(self, halt: threading.Event) -> None:
        """A connection stuck in a driver call cannot be woken: abandon it and open another."""
        silent = time.perf_counter() - self._heartbeat
        if silent <= self.stall_seconds:
            return
        self._set_state("lost", f"the camera stopped responding ({silent:.1f} s)")
        if sum(t.is_alive() for t in self._threads) > MAX_ABANDONED:
            return  # wait for the driver to give some of them back
        self._start_connection(halt)

    def close(self, timeout: float = 1.0) -> None:
        """Stop reading and wait briefly for the connection threads.

        Hung ones (stuck in a driver call) are daemons: they end when the call returns
        or with the process. Explicit, because a paused generator's ``finally`` runs
        only when the garbage collector gets to it.
        """
        self._halt.set()
        deadline = time.perf_counter() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.perf_counter()))
