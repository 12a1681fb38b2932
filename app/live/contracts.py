"""The contracts between the live stages: what a source, the pipeline's stages and a sink promise.

Written down, as pyvirtualcam's ``Backend`` does, because each side is implemented
more than once (a camera and a file; a virtual camera, a stream and a recording; the
live processor and a bare chain) and the session's guarantees (the newest frame wins,
a lost camera puts a slate on every output, closing never hangs the window, a frame
goes one way from camera to sink) hold only if every implementation keeps these promises.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from common.errors import LiveToonError

if TYPE_CHECKING:  # for the annotations only: a sink or a source loads no model code
    from app.frames import VideoFrame
    from app.pipeline import Processed


class SourceError(LiveToonError):
    """The source cannot deliver frames (not found, unplugged, hung, unreadable)."""


class SourceState(enum.StrEnum):
    """Where a watched source stands; reported to ``on_status`` on every change."""

    CONNECTING = "connecting"
    """Opening the device for the first time."""
    LIVE = "live"
    """Frames arrive."""
    LOST = "lost"
    """The device died, hung or froze; reopening with backoff until it is back."""


class Grabber(Protocol):
    """One opened device: a camera (:class:`~app.live.cameras.OpenCVCamera`) or a file
    standing in for one (:class:`~app.live.sources.LoopedFile`).

    Made by the opener a :class:`~app.live.sources.WatchedSource` holds, on that
    source's connection thread, which alone calls ``read`` and ``close``. Opening
    raises :class:`SourceError` (or the driver's own error) when the device is not
    there; that is reported as ``lost`` and retried.
    """

    label: str
    """For the status line: what is open, at what size."""
    repeats_mean_frozen: bool
    """True for cameras: a real sensor never returns two identical frames, so a repeat is a dead driver."""

    def read(self) -> np.ndarray:
        """Block for the next BGR frame (uint8 HxWx3) and return it; the caller owns it
        (it is not read again by the grabber). Raises :class:`SourceError` when the
        device stopped; may also never return (a hung driver), which the watcher handles."""
        ...

    def close(self) -> None:
        """Release the device. Called exactly once, after the last ``read``, on the same thread."""
        ...


class Sink(Protocol):
    """Where output frames go: the virtual camera, the stream, a recording, NDI.

    Threads: ``submit`` is called on the session's output thread, ``show_lost`` on a
    source thread, ``status``/``error`` are read by the front end (the GUI or the CLI's
    reporter), and ``close`` by whoever switches the output off. None of them may
    block the caller for long: a sink does its device work on a thread of its own.
    """

    status: str
    """One line for the window and the CLI; says why when the output has stopped."""
    error: str | None
    """Why the output stopped on its own (one line), None while it works."""
    carries_alpha: bool
    """Takes BGRA frames (NDI, a recording with alpha); the others take BGR, which with a
    transparent background shows the person over the key colour."""

    def submit(self, frame: np.ndarray) -> None:
        """Take the newest output frame (uint8 HxWx3 BGR, or HxWx4 BGRA when
        ``carries_alpha``; any size). The frame is NOT
        copied: the caller must not draw on it afterwards, and the sink must not either.
        Returns at once (a reference is swapped); clears the "camera lost" slate."""
        ...

    def show_lost(self) -> None:
        """The camera is gone: show the "camera lost" slate until the next ``submit``."""
        ...

    def close(self) -> None:
        """Stop and release the device (a recording is finished under its name). Called
        exactly once, by :class:`~app.live.sink_set.SinkSet`; returns within the sink's
        bound (:data:`~app.live.sinks.CLOSE_SECONDS`, a recording
        :data:`~app.live.record.FINISH_SECONDS`) even when the device hangs."""
        ...


class ModelStage(Protocol):
    """The model thread's stage of :func:`~app.live.pipeline.run_keyframe_pipeline`:
    :class:`~app.live.processor.LiveProcessor` (its settings applied first), or a bare
    :class:`~app.pipeline.FrameProcessor`.

    Called on the model thread only, one frame at a time, with a camera frame already
    mirrored when asked; returns that frame's keyframe (its ``frame`` the one given) and
    calls nothing of the pipeline's. It may take several frame periods: the output
    thread carries the newest keyframe meanwhile. What it raises stops the pipeline.
    """

    def __call__(self, frame: VideoFrame) -> Processed:
        ...


class CarryStage(Protocol):
    """The output thread's compositing of carried frames
    (:meth:`~app.live.processor.LiveProcessor.composite_carried`).

    Called on the output thread with each camera frame about to be carried to, before
    the cartoon is carried: it may start that frame's matte on a thread of its own. The
    function it returns is called once, on the output thread, with the carried result,
    and returns what goes out (the camera mixed in by strength, over the background).
    """

    def __call__(self, frame: VideoFrame) -> Callable[[Processed], Processed]:
        ...


class OutputStage(Protocol):
    """Where each output frame goes: :class:`~app.live.delivery.Delivery` (bypass, the lost
    camera's slate, the sinks, the preview).

    Called on the output thread only, in order; returns at once (each sink's pacer does
    the device work on its own thread), and hands the frame forward only: it calls
    nothing of the pipeline's or the session's.
    """

    def __call__(self, processed: Processed) -> None:
        ...
