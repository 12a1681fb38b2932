"""Live outputs for other programs: the virtual camera (OBS, Zoom) and an MPEG-TS stream.

Both sit behind a :class:`FramePacer`: its own thread emits frames at a fixed size and
a fixed rate whatever the model does. OBS and Zoom expect a camera that never changes
size (reopening breaks them) and never stops (a stalled source looks like a crash),
and pyvirtualcam does not pace frames itself on Linux and macOS. So the pacer
letterboxes every frame to the output size, repeats the last one when processing is
slow, shows a "camera lost" slate while the source is gone, and the caller's
``submit`` only swaps a reference: it never waits for an encoder or a driver.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from fractions import Fraction
from urllib.parse import urlsplit

import av
import cv2
import numpy as np

from dctnet.errors import LiveToonError

from .doctor import virtual_camera_fix

DEFAULT_STREAM_URL = "udp://127.0.0.1:9999"
UDP_PACKET = 1316
"""Seven 188-byte TS packets: fits an Ethernet MTU, the size OBS/FFmpeg readers expect."""
SLATE_TEXT = "camera lost - reconnecting"


def letterbox(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """``frame`` scaled to fit ``width x height`` with its aspect kept, black bars around."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.zeros((height, width, 3), np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    canvas[y:y + new_h, x:x + new_w] = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
    return canvas


def lost_slate(width: int, height: int) -> np.ndarray:
    """A dark frame that says the camera is gone, so viewers do not see a frozen face."""
    slate = np.full((height, width, 3), 32, np.uint8)
    scale = max(0.5, width / 900)
    thickness = max(1, round(scale * 2))
    (text_w, text_h), _ = cv2.getTextSize(SLATE_TEXT, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = ((width - text_w) // 2, (height + text_h) // 2)
    cv2.putText(slate, SLATE_TEXT, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), thickness, cv2.LINE_AA)
    return slate


class FramePacer:
    """Calls ``output`` with a ``width x height`` BGR frame ``fps`` times a second.

    The newest submitted frame wins; with none new, the last one repeats. A failing
    ``output`` stops the pacer and leaves its message in ``error``.
    """

    def __init__(self, output: Callable[[np.ndarray], None], width: int, height: int, fps: float,
                 name: str = "pacer") -> None:
        self.output, self.width, self.height, self.fps = output, width, height, fps
        self.frames_out = 0
        self.error: str | None = None
        self._lock = threading.Lock()
        self._pending: np.ndarray | None = None
        self._current = np.zeros((height, width, 3), np.uint8)
        self._lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, frame_bgr: np.ndarray) -> None:
        with self._lock:
            self._pending, self._lost = frame_bgr, False

    def show_lost(self) -> None:
        with self._lock:
            self._lost = True

    def _next_frame(self) -> np.ndarray:
        with self._lock:
            pending, self._pending, lost = self._pending, None, self._lost
        if lost:
            return lost_slate(self.width, self.height)
        if pending is not None:
            self._current = letterbox(pending, self.width, self.height)  # on this thread, not the caller's
        return self._current

    def _run(self) -> None:
        period = 1.0 / self.fps
        due = time.perf_counter()
        while not self._stop.is_set():
            try:
                self.output(self._next_frame())
            except (LiveToonError, av.error.FFmpegError, OSError, RuntimeError) as exc:
                self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return
            self.frames_out += 1
            due += period
            late = time.perf_counter() - due
            if late > period:
                due += late // period * period  # skip the missed ticks instead of bursting to catch up
            self._stop.wait(max(0.0, due - time.perf_counter()))

    def close(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


class VirtualCameraSink:
    """The cartoon as a webcam for other programs (OBS Virtual Camera or v4l2loopback)."""

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        import pyvirtualcam

        try:
            self.camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR)
        except Exception as exc:  # noqa: BLE001 - each backend raises its own type (RuntimeError, ValueError, OSError)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LiveToonError(f"virtual camera unavailable ({reason}); to fix it: {virtual_camera_fix()}") from exc
        self._status = f"virtual camera: {self.camera.device} ({self.camera.backend}) {width}x{height} @ {fps:g} fps"
        self.pacer = FramePacer(self.camera.send, width, height, fps, name="virtual-camera")

    @property
    def status(self) -> str:
        return f"virtual camera stopped: {self.pacer.error}" if self.pacer.error else self._status

    def submit(self, frame_bgr: np.ndarray) -> None:
        self.pacer.submit(frame_bgr)

    def show_lost(self) -> None:
        self.pacer.show_lost()

    def close(self) -> None:
        self.pacer.close()
        self.camera.close()

    def __enter__(self) -> VirtualCameraSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream_target(url: str) -> str:
    """Check a ``udp://HOST:PORT`` URL and give it the TS-sized packets."""
    parts = urlsplit(url)
    if parts.scheme != "udp" or not parts.hostname or not parts.port:
        raise LiveToonError(f"stream URL must look like udp://HOST:PORT (e.g. {DEFAULT_STREAM_URL}), got {url!r}")
    return url if "pkt_size=" in parts.query else f"{url}{'&' if parts.query else '?'}pkt_size={UDP_PACKET}"


class StreamSink:
    """MPEG-TS over UDP, H.264 tuned for latency: what OBS's Media Source reads.

    x264 with ``zerolatency`` (no lookahead, no B-frames, sliced threads) and a
    one-second GOP, so a receiver that joins late shows a picture within a second.
    """

    def __init__(self, url: str = DEFAULT_STREAM_URL, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        self.url = url
        target = stream_target(url)
        rate = Fraction(fps).limit_denominator(1001)
        try:
            self.container = av.open(target, mode="w", format="mpegts")
        except (av.error.FFmpegError, OSError) as exc:
            raise LiveToonError(f"cannot open the stream {url}: {exc}") from exc
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.codec_context.time_base = 1 / rate
        self.stream.options = {"preset": "veryfast", "tune": "zerolatency", "g": str(max(1, round(fps))),
                               "bf": "0", "crf": "21"}
        self._next_pts = 0
        self._status = f"streaming to {url} ({width}x{height} @ {fps:g} fps, MPEG-TS H.264)"
        self.pacer = FramePacer(self._encode, width, height, fps, name="stream")

    @property
    def status(self) -> str:
        return f"stream stopped: {self.pacer.error}" if self.pacer.error else self._status

    def _encode(self, frame_bgr: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(frame_bgr, format="bgr24")
        frame.pts = self._next_pts
        self._next_pts += 1
        self.container.mux(self.stream.encode(frame))

    def submit(self, frame_bgr: np.ndarray) -> None:
        self.pacer.submit(frame_bgr)

    def show_lost(self) -> None:
        self.pacer.show_lost()

    def close(self) -> None:
        """Stop the pacer, then flush the encoder on this thread (the pacer no longer touches it)."""
        self.pacer.close()
        try:
            self.container.mux(self.stream.encode(None))
            self.container.close()
        except (av.error.FFmpegError, OSError):
            pass  # the receiver side is not ours to fail over; the stream is ending anyway

    def __enter__(self) -> StreamSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
