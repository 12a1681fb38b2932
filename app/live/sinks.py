"""Live outputs for other programs: the pacer every output sits behind, and the virtual camera (OBS, Zoom).

Each output sits behind a :class:`FramePacer` (the stream and an H.264 recording behind
one they share, :mod:`app.live.shared_encoder`): its own thread emits frames at a fixed size and
a fixed rate whatever the model does. OBS and Zoom expect a camera that never changes
size (reopening breaks them) and never stops (a stalled source looks like a crash),
and pyvirtualcam does not pace frames itself on Linux and macOS. So the pacer
letterboxes every frame to the output size, repeats the last one when processing is
slow, shows a "camera lost" slate while the source is gone, and the caller's
``submit`` only swaps a reference: it never waits for an encoder or a driver.

Each output device is used by its pacer's thread only, from the first frame to its
release: closing never races a frame in flight, even when a driver hangs.
"""

from __future__ import annotations

import math
import platform
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Self
from urllib.parse import urlsplit

import cv2
import numpy as np

from common.errors import LiveToonError

from app.fix_it import FixableError, FixIt, Step
from app.handoff import NewestWins
from app.live.settings import OutputSettings, check_output
from app.workers import Worker, first_line

if TYPE_CHECKING:
    import pyvirtualcam

DEFAULT_STREAM_URL = "udp://127.0.0.1:9999"
UDP_PACKET = 1316
"""Seven 188-byte TS packets: fits an Ethernet MTU, the size OBS/FFmpeg readers expect."""
SLATE_TEXT = "camera lost - reconnecting"
STARTING_TEXT = "LiveToon - waiting for the cartoon"
"""The card every paced output shows until its first frame: never black (a viewer cannot tell
a pause from a fault) and never a camera picture."""
SLATE_GRAY = 32
CLOSE_SECONDS = 1.0
CONSTANT_RATE = math.inf
"""A pacer's ``catch_up`` for a constant-rate output (a recording): every tick is emitted, however late."""
MISSED_AT_CLOSE_SECONDS = 5.0
"""The longest a constant-rate output spends at its close writing the ticks it missed: one
far behind (a CPU overloaded for minutes) must still finish in time, or a recording is lost."""
NO_ALPHA_NOTE = ("the virtual camera and the stream cannot carry transparency: they show the person over the key "
                 "colour (pure green; OBS: add a Chroma Key filter); NDI and .mov/.webm recordings keep it")


def letterbox(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """``frame`` scaled to fit ``width x height`` with its aspect kept, black bars around
    (BGR), or transparent ones (BGRA: the bars' alpha is 0)."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.zeros((height, width, frame.shape[2]), np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    canvas[y:y + new_h, x:x + new_w] = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
    return canvas


def lost_slate(width: int, height: int, channels: int = 3, text: str = SLATE_TEXT) -> np.ndarray:
    """A dark frame that says the camera is gone (or, with ``text``, why there is no picture
    yet), so viewers do not see a frozen face (opaque also on an output with alpha: a missing
    camera must be seen, not vanish)."""
    slate = np.full((height, width, channels), SLATE_GRAY, np.uint8)
    if channels == 4:
        slate[..., 3] = 255
    scale = max(0.5, width / 900)
    thickness = max(1, round(scale * 2))
    (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = ((width - text_w) // 2, (height + text_h) // 2)
    cv2.putText(slate, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235, 255), thickness, cv2.LINE_AA)
    return slate


def next_tick(due: float, now: float, period: float, catch_up: float) -> float:
    """When a pacer emits next, its tick at ``due`` done at ``now``: one period later, even
    when that is already past (the missed tick is emitted at once, late, on its place in
    the grid); when it is more than ``catch_up`` seconds past (a stalled thread), the first
    tick not yet that late, so the ticks before it are skipped instead of burst out."""
    due += period
    late = now - due
    if late > catch_up:
        due += late // period * period
    return due


def wait_on_stop(stop: threading.Event, seconds: float) -> object:
    """A pacer's sleep on the wall clock, woken early by ``stop``."""
    return stop.wait(seconds)


class PacerTiming(NamedTuple):
    """What times a pacer's ticks: ``clock()`` and ``sleep(stop, seconds)`` (woken early by
    ``stop``). A test brings its own, so the schedule is checked whatever the load."""

    clock: Callable[[], float] = time.perf_counter
    sleep: Callable[[threading.Event, float], object] = wait_on_stop


class FramePacer:
    """Calls ``output`` with a ``width x height`` frame ``fps`` times a second: BGR, or
    BGRA with ``channels=4`` (outputs that carry alpha; they are submitted BGRA frames).

    The newest submitted frame wins; with none new, the last one repeats (before the
    first one: the :data:`STARTING_TEXT` card, so OBS sees a source at once, or nothing
    with ``hold_until_first``, so a recording does not start with a card). The ticks are
    on a fixed grid (``tick``: the index of the one being emitted, ``due``: its time); a
    tick missed while ``output`` or the machine was slow is emitted late, the newest frame,
    while the pacer is at most ``catch_up`` seconds behind (None: one period; a virtual
    camera's viewer wants the present), and beyond that the missed ticks are skipped. With
    :data:`CONSTANT_RATE` every tick is emitted (a recording: ``frames_out`` is then the
    tick's index, and the ticks still missed when it is closed are written then, so a
    recording on for T seconds has T x fps frames). ``catch_up`` may change while it runs.
    A failing ``output`` stops the pacer and leaves its message in ``error``. ``release`` runs
    on the pacer's thread once it stops, so the device is never touched from two
    threads. The thread follows the project's one policy (:class:`Worker`).
    """

    def __init__(self, output: Callable[[np.ndarray], None], width: int, height: int, fps: float,
                 name: str = "pacer", release: Callable[[], None] | None = None, hold_until_first: bool = False,
                 channels: int = 3, timing: PacerTiming = PacerTiming(), catch_up: float | None = None) -> None:
        check_output(width, height, fps)
        self.clock, self.sleep = timing
        self.catch_up = catch_up
        self.output, self.width, self.height, self.fps = output, width, height, fps
        self.channels = channels
        self.release = release
        self.frames_out = 0
        self.tick, self.due = 0, 0.0
        self.has_picture = False
        """A submitted frame has been taken: what goes out is no longer the starting card."""
        self._pending: NewestWins[np.ndarray] = NewestWins()
        self._current = None if hold_until_first else lost_slate(width, height, channels, STARTING_TEXT)
        self._lost = False
        self._slate: np.ndarray | None = None
        self._stop = threading.Event()
        self._stopped_at = float("inf")
        self._worker = Worker(self._run, name)
        self._worker.start()

    @property
    def error(self) -> str | None:
        return self._worker.error

    def submit(self, frame_bgr: np.ndarray) -> None:
        """Hand over a frame (not copied: do not draw on it afterwards); clears the slate."""
        self._lost = False
        self._pending.put(frame_bgr)

    def show_lost(self) -> None:
        self._lost = True

    def _next_frame(self) -> np.ndarray | None:
        pending, lost = self._pending.take(), self._lost
        if pending is not None:
            self._current = letterbox(pending, self.width, self.height)  # on this thread, not the caller's
            self.has_picture = True
        if not lost or self._current is None:
            return self._current
        if self._slate is None:
            self._slate = lost_slate(self.width, self.height, self.channels)
        return self._slate

    def _run(self) -> None:
        try:
            self._emit_until_stopped()
        except Exception as exc:  # noqa: BLE001 - every backend raises its own types; the status shows it
            self._worker.fail(first_line(exc))  # before the release's own error, if it has one
        finally:
            self._release()

    def _emit_until_stopped(self) -> None:
        period = 1.0 / self.fps
        start = due = self.clock()
        while not self._stop.is_set():
            frame = self._next_frame()
            if frame is not None:
                self._emit(frame, round((due - start) / period), due)
            due = next_tick(due, self.clock(), period, period if self.catch_up is None else self.catch_up)
            self.sleep(self._stop, max(0.0, due - self.clock()))
        if self.catch_up == CONSTANT_RATE:
            self._emit_missed(start, due, period)

    def _emit(self, frame: np.ndarray, tick: int, due: float) -> None:
        self.tick, self.due = tick, due
        self.output(frame)
        self.frames_out += 1

    def _emit_missed(self, start: float, due: float, period: float) -> None:
        """The ticks due more than half a period before the close, the last frame repeated:
        a constant-rate output that fell behind still lasts as long as it was on (within
        :data:`MISSED_AT_CLOSE_SECONDS`)."""
        frame = self._next_frame()
        while (frame is not None and due <= self._stopped_at - period / 2
               and self.clock() - self._stopped_at < MISSED_AT_CLOSE_SECONDS):
            self._emit(frame, round((due - start) / period), due)
            due += period

    def _release(self) -> None:
        if self.release is None:
            return
        try:
            self.release()
        except Exception as exc:  # noqa: BLE001 - the output is going away; keep the first error if any
            self._worker.fail(first_line(exc))

    def fail(self, message: str) -> None:
        """Record a failure seen from outside the thread (a release that never ended)."""
        self._worker.fail(message)

    def close(self, timeout: float = CLOSE_SECONDS) -> bool:
        """Stop emitting; returns within ``timeout`` even if the output hangs (it is released
        later). True when the thread has ended, release included."""
        self._stopped_at = min(self._stopped_at, self.clock())
        self._stop.set()
        return self._worker.join(timeout)


class PacedSink:
    """What every live output shares: a pacer in front of one device.

    ``carries_alpha``: the output takes BGRA frames (NDI, a recording to ProRes 4444 or
    VP9); the others take BGR, which with a transparent background shows the key colour.
    ``hold_until_first``, ``catch_up``: as :class:`FramePacer`'s.
    """

    kind = "output"
    carries_alpha = False

    def __init__(self, output: OutputSettings, description: str, hold_until_first: bool = False,
                 catch_up: float | None = None, timing: PacerTiming = PacerTiming()) -> None:
        self.output, self.description = output, description
        self.pacer = FramePacer(self._send, output.width, output.height, output.fps, name=self.kind,
                                release=self._release, hold_until_first=hold_until_first,
                                channels=4 if self.carries_alpha else 3, timing=timing, catch_up=catch_up)

    def _send(self, frame: np.ndarray) -> None:
        """Hand one paced frame (BGR, or BGRA when ``carries_alpha``) to the device."""
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    @property
    def error(self) -> str | None:
        """Why the output stopped (one line), None while it works."""
        return f"{self.kind} stopped: {self.pacer.error}" if self.pacer.error else None

    @property
    def status(self) -> str:
        """One line for the window and the CLI; says why when the output has stopped."""
        return self.error or f"{self.kind}: {self.description}"

    def submit(self, frame: np.ndarray) -> None:
        """A BGR frame, or BGRA when ``carries_alpha``."""
        self.pacer.submit(frame)

    def show_lost(self) -> None:
        self.pacer.show_lost()

    def close(self) -> None:
        self.pacer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def virtual_camera_fix() -> FixIt:
    """The per-OS way to get a virtual-camera backend that pyvirtualcam can drive."""
    system = platform.system()
    if system == "Linux":
        return FixIt((
            Step("install v4l2loopback", "sudo apt install v4l2loopback-dkms"),
            Step("load it as a camera called LiveToon",
                 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="LiveToon"'),
            Step("add your user to the video group", "sudo usermod -aG video $USER"),
            Step("log out and in again"),
        ))
    if system in ("Windows", "Darwin"):
        return FixIt((Step("install OBS Studio (28 or newer) and start its Virtual Camera once, then stop it"),))
    return FixIt((Step(f"no virtual-camera backend is known for {system}"),))


def open_virtual_camera(width: int, height: int, fps: float) -> pyvirtualcam.Camera:
    """pyvirtualcam's first available backend, or one message that says how to get one."""
    try:
        import pyvirtualcam
    except ImportError as exc:
        raise LiveToonError("virtual camera unavailable: pip install pyvirtualcam") from exc
    try:
        # BGR in: pyvirtualcam converts to the backend's native format in C++, on the calling (pacer) thread.
        return pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR)
    except Exception as exc:  # noqa: BLE001 - each backend raises its own type (RuntimeError, ValueError, OSError)
        reason = first_line(exc)
        raise FixableError(f"virtual camera unavailable ({reason})", virtual_camera_fix()) from exc


class VirtualCameraSink(PacedSink):
    """The cartoon as a webcam for other programs (OBS Virtual Camera or v4l2loopback)."""

    kind = "virtual camera"

    def __init__(self, output: OutputSettings = OutputSettings()) -> None:
        self.camera = open_virtual_camera(output.width, output.height, output.fps)
        device = f"{self.camera.device} ({self.camera.backend})"
        super().__init__(output, f"{device} {output.width}x{output.height} @ {output.fps:g} fps")

    def _send(self, frame_bgr: np.ndarray) -> None:
        self.camera.send(frame_bgr)

    def _release(self) -> None:
        self.camera.close()


def stream_target(url: str) -> str:
    """Check a ``udp://HOST:PORT`` URL and give it the TS-sized packets."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = None
    if parts.scheme != "udp" or not parts.hostname or not port:
        raise LiveToonError(f"stream URL must look like udp://HOST:PORT (e.g. {DEFAULT_STREAM_URL}), got {url!r}")
    return url if "pkt_size=" in parts.query else f"{url}{'&' if parts.query else '?'}pkt_size={UDP_PACKET}"
