"""Recording the live output to a video file, off the processing thread.

Live frames arrive at an uneven rate (newest-wins drops some), so each frame is
stamped with the wall-clock time it arrived, in milliseconds: playback then runs at
real speed. The encoder runs on its own thread behind a short queue; if the disk or
the encoder cannot keep up, frames are dropped (and counted) rather than stalling
the live picture. The file appears under its name only when recording stops
(``VideoWriter`` writes to a temporary file and renames it).
"""

from __future__ import annotations

import queue
import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from dctnet.errors import LiveToonError

from .video_out import VideoWriter

MILLISECONDS = Fraction(1, 1000)
QUEUE_DEPTH = 8


class RecordSink:
    """A live sink that writes what it is given to ``path`` (H.264, fast preset)."""

    def __init__(self, path: Path, fps: float = 30.0) -> None:
        self.path = Path(path)
        self.fps = fps
        self.dropped = 0
        self.error: str | None = None
        self.status = f"recording to {self.path.name}"
        self._queue: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(QUEUE_DEPTH)
        self._writer: VideoWriter | None = None
        self._start: float | None = None
        self._last_pts = -1
        self._thread = threading.Thread(target=self._run, name="record", daemon=True)
        self._thread.start()

    def submit(self, frame_bgr: np.ndarray) -> None:
        if self.error:
            return
        try:
            self._queue.put_nowait((frame_bgr, time.perf_counter()))
        except queue.Full:
            self.dropped += 1

    def show_lost(self) -> None:
        """Nothing to write while the camera is gone: the gap shows as a held frame."""

    def _open(self, frame: np.ndarray) -> VideoWriter:
        height, width = frame.shape[:2]
        return VideoWriter(self.path, width, height, Fraction(self.fps).limit_denominator(1001), MILLISECONDS,
                           preset="veryfast", crf=20)

    def _write(self, frame: np.ndarray, arrived: float) -> None:
        if self._writer is None:
            self._writer, self._start = self._open(frame), arrived
        if frame.shape[:2] != (self._writer.height, self._writer.width):
            frame = cv2.resize(frame, (self._writer.width, self._writer.height), interpolation=cv2.INTER_AREA)
        pts = max(self._last_pts + 1, round((arrived - self._start) * 1000))
        self._writer.write(frame, pts)
        self._last_pts = pts

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.error:
                continue
            try:
                self._write(*item)
            except LiveToonError as exc:
                self.error = str(exc)
                self.status = f"recording stopped: {exc}"

    def close(self) -> Path | None:
        """Finish the file; returns its path, or None when nothing was recorded or it failed."""
        self._queue.put(None)
        self._thread.join()
        if self._writer is None or self.error:
            if self._writer is None and not self.error:
                self.status = "nothing recorded"
            return None
        try:
            path = self._writer.close()
        except LiveToonError as exc:
            self.error = str(exc)
            self.status = f"recording failed: {exc}"
            return None
        self.status = f"recorded {self._writer.frames} frames to {path}" + (f" ({self.dropped} dropped)" if self.dropped else "")
        return path
