"""Live frame sources: one :func:`open_source` for every spec, and a watcher that reconnects.

A webcam is an unreliable device: USB cables get pulled, drivers hang inside
``read()``, and OpenCV may keep handing back the last frame of a dead camera. So a
live source is two layers:

* a :class:`~app.live.contracts.Grabber` talks to one opened device and either returns the next frame or
  raises :class:`SourceError` (:class:`~app.live.cameras.OpenCVCamera` for cameras, ``LoopedFile`` for a
  video file looped and paced at its own rate);
* :class:`WatchedSource` owns the reconnect policy: it reads the grabber on a thread
  of its own, notices death (an exception), a hang (no frame for ``stall_seconds``)
  and a freeze (identical frames, cameras only), reports :attr:`SourceState.LOST`, and reopens with
  backoff until the device is back. A hung ``read()`` cannot be interrupted from
  Python, so that connection is abandoned (its thread exits when the call returns)
  and a new one is opened beside it.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from app.frames import VideoFrame
from app.media.video_in import VideoReader
from app.handoff import NewestWins
from app.live.audio import PlaybackClock
from app.live.cameras import OpenCVCamera, check_camera_opens, resolve_camera
from app.live.contracts import Grabber, SourceError, SourceState
from app.live.settings import FileSpec, SourceSpec
from app.workers import first_line

BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0)
STALL_SECONDS = 2.0
MAX_ABANDONED = 3
"""Connections stuck in a driver call we wait out before opening yet another one."""
StatusHook = Callable[[SourceState, str], None]


class LoopedFile:
    """A video file as a camera: frames paced at the file's own timestamps, looped forever."""

    repeats_mean_frozen = False  # a still title card is not a dead camera

    def __init__(self, path: Path, loop: bool = True, clock: PlaybackClock | None = None) -> None:
        """``clock`` hears when each play starts (the file's sound follows it)."""
        self.path, self.loop, self.clock = Path(path), loop, clock
        self.reader = VideoReader(self.path)
        self.label = f"{self.path.name} {self.reader.width}x{self.reader.height}"
        self._frames = iter(self.reader)
        self._clock_start = time.perf_counter()
        self._offset = 0.0  # seconds of the loops already played
        self._last_end = 0.0
        if clock:
            clock.started(self._clock_start, first=True)

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
            if self.clock:
                self.clock.started(self._clock_start + self._offset, first=False)
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


class WatchedSource:
    """Frames from a grabber that may die, hang or freeze; reconnects with backoff.

    ``on_status(state, detail)`` is called on every change of :class:`SourceState`,
    from the consumer's thread or a connection thread; it is given here, at
    construction, so no frame or loss can be reported before it is in place.
    ``fps`` is the rate measured over the last second of frames.
    """

    def __init__(
        self,
        open_grabber: Callable[[], Grabber],
        on_status: StatusHook | None = None,
        stall_seconds: float = STALL_SECONDS,
        backoff: tuple[float, ...] = BACKOFF_SECONDS,
    ) -> None:
        self.open_grabber = open_grabber
        self._on_status = on_status or (lambda state, detail: None)
        self.stall_seconds, self.backoff = stall_seconds, backoff
        self.state, self.detail = SourceState.CONNECTING, ""
        self.reconnects = 0
        self.label = ""
        self._lock = threading.Lock()
        self._generation = 0
        self._heartbeat = time.perf_counter()
        self._lost_at = 0.0
        self._signature: int | None = None  # kept across reconnects: a dead camera may reopen frozen
        self._mailbox: NewestWins[tuple[int, np.ndarray, float]] = NewestWins()
        """(connection generation, frame, arrival time): a driver buffer of one."""
        self._arrivals: deque[float] = deque(maxlen=240)
        self._threads: list[threading.Thread] = []
        self._halt = threading.Event()

    @property
    def fps(self) -> float:
        """Frames per second that arrived over the last second (0 when none)."""
        now = time.perf_counter()
        times = [t for t in list(self._arrivals) if t > now - 1.0]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 and times[-1] > times[0] else 0.0

    def _set_state(self, state: SourceState, detail: str, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return  # an abandoned connection has nothing to say any more
            if (state, detail) == (self.state, self.detail):
                return
            self.state, self.detail = state, detail
            if state is SourceState.LOST:
                self._lost_at = time.perf_counter()
                self._mailbox.clear()  # a frame from before the loss must not revive the picture
        self._on_status(state, detail)

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
                self._set_state(SourceState.LOST, first_line(exc), generation)
                self._beat(generation)
                halt.wait(self.backoff[min(attempt, len(self.backoff) - 1)])
                attempt += 1
                continue
            attempt = 0
            self.label = grabber.label
            try:
                self._read(grabber, generation, halt)
            except Exception as exc:  # noqa: BLE001 - as above (cv2.error, av errors, bugs)
                self._set_state(SourceState.LOST, first_line(exc), generation)
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
            self._mailbox.put((generation, image, time.perf_counter()))

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
        self._set_state(SourceState.CONNECTING, "")
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
                if self.state is SourceState.LOST:
                    self.reconnects += 1
                self._set_state(SourceState.LIVE, self.label)
                yield VideoFrame(image, index, arrived, index)  # time: perf_counter() at arrival
                index += 1
        finally:
            halt.set()

    def _watch(self, halt: threading.Event) -> None:
        """A connection stuck in a driver call cannot be woken: abandon it and open another."""
        silent = time.perf_counter() - self._heartbeat
        if silent <= self.stall_seconds:
            return
        self._set_state(SourceState.LOST, f"the camera stopped responding ({silent:.1f} s)")
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


def open_source(spec: SourceSpec, on_status: StatusHook | None = None, wait_for_camera: bool = False,
                clock: PlaybackClock | None = None) -> WatchedSource:
    """The live source for ``spec``, checked before it is handed out (not yet reading).

    A file that does not open is a usage error now, not a "lost camera" later. A
    camera is resolved by index or name, and opened once unless ``wait_for_camera``:
    a camera typed on the command line that never opened is a wrong index (the error
    lists the cameras there are); the window's cameras come from the system's list,
    so one that is busy is waited for (reported ``lost`` and retried) instead.
    ``clock``: told when each play of a file starts.
    """
    if isinstance(spec, FileSpec):
        path = spec.path
        LoopedFile(path).close()
        return WatchedSource(lambda: LoopedFile(path, clock=clock), on_status)
    camera = resolve_camera(spec.camera)
    if not wait_for_camera:
        check_camera_opens(camera, spec.width, spec.height, spec.fps)
    index, width, height, fps = camera.index, spec.width, spec.height, spec.fps
    return WatchedSource(lambda: OpenCVCamera(index, width, height, fps), on_status)
