"""The live pipeline with the model on its own thread: every camera frame goes out.

Three threads. *Capture* hands each camera frame to both others. The *model*
thread takes the newest frame it can (older ones are skipped), runs the whole
processor on it (faces, model, stabilizer) and publishes the result as a keyframe,
no more often than the user's ``model fps`` cap allows (``auto``: as fast as it
can). The *output* thread (the caller's) emits every camera frame: the newest
keyframe's cartoon carried to that frame by :mod:`flow.propagate`, so the output
keeps the camera's rate however slow the model is. A keyframe that arrives late
(computed on a frame the output has passed) is brought forward to the current
frame before it is shown; a frame whose motion cannot be followed (a cut, a big
move) lifts the cap for the next keyframe. When the model is about to finish the
very frame being output (a fast GPU), the output waits for it a little instead of
propagating, so a fast model's frames are shown as they are.

With ``model fps`` set to ``every`` it is today's pipeline: each processed frame
goes out, the newest frame wins. The mode is read every frame, so the window can
switch it while running. Latency is measured from capture to the sink's return.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from flow.propagate import Propagator

from app.frames import VideoFrame
from app.files.keyframes import propagator as default_propagator
from app.handoff import NewestWins
from app.live.contracts import CarryStage, ModelStage, OutputStage
from app.live.model_budget import ModelBudget
from app.live.settings import AUTO, EVERY_FRAME
from app.pipeline import Processed, StageTimes
from app.workers import Crew

OUTPUT_BACKLOG = 3
"""Camera frames the output thread may fall behind by before it skips the oldest."""
WAIT_FOR_MODEL_SECONDS = 0.03
"""How long the output waits for the model to finish the very frame it is about to emit."""
POLL_SECONDS = 0.1
"""How often a waiting thread looks at the stop event."""


MODEL_NICENESS = 10
"""How much lower the model thread's scheduling priority is than the output thread's."""


def lower_this_threads_priority(niceness: int = MODEL_NICENESS) -> bool:
    """Let the output thread win every contest for a core against the model thread.

    The output must go out every frame period; the model may take a frame longer. At
    equal priority, a keyframe's arrival (the model's last layers, MediaPipe, the fade's
    second warp in the output) left the output thread waiting for a core for up to 4
    frame periods on a 2-core CPU. Linux gives each thread its own nice value (and
    threads it starts inherit it), so this touches the calling thread only; elsewhere
    ``setpriority`` would lower the whole process, so nothing is done (False). An
    unprivileged thread cannot raise its priority again, so it stays lowered if the
    window later switches to ``every``, where it then yields to other programs too.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    except OSError:
        return False
    return True


def model_fps_of(settings: object) -> str:
    """The mode the settings ask for; ``every`` (LiveSettings' default) for settings that name
    none. The one fallback: the model and the output threads must agree on the mode."""
    return getattr(settings, "model_fps", EVERY_FRAME)


def model_cap(model_fps: str) -> float | None:
    """The capped model rate in runs a second (None: no cap)."""
    return None if model_fps in (EVERY_FRAME, AUTO) else float(model_fps)


@dataclass
class LiveStats:
    """``processed`` counts output frames, ``dropped`` camera frames the model never took
    (newest frame wins); ``keyframes`` the model's, ``propagated`` the carried ones."""

    processed: int = 0
    dropped: int = 0
    keyframes: int = 0
    propagated: int = 0


class CameraFrames:
    """The frames the output thread has still to emit, oldest first (a bounded backlog)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.frames: deque[tuple[VideoFrame, float]] = deque()
        self.ended = False
        self.skipped = 0

    def put(self, item: tuple[VideoFrame, float]) -> None:
        with self.cond:
            if len(self.frames) >= OUTPUT_BACKLOG:
                self.frames.popleft()
                self.skipped += 1
            self.frames.append(item)
            self.cond.notify_all()

    def finish(self) -> None:
        with self.cond:
            self.ended = True
            self.cond.notify_all()


@dataclass
class Keyframe:
    processed: Processed
    captured_at: float
    serial: int


class ModelLoop:
    """The model thread: the model stage on the newest frame it can take, at most at the capped rate."""

    def __init__(self, process: ModelStage, mailbox: NewestWins[tuple[VideoFrame, float]],
                 model_fps: Callable[[], str],
                 stop: threading.Event, times: StageTimes, publish: Callable[[Keyframe], None],
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.process, self.mailbox, self.model_fps, self.stop = process, mailbox, model_fps, stop
        self.times, self.publish = times, publish
        self.force = threading.Event()
        """Set by the output thread: the next keyframe is wanted now, as early as the cap allows."""
        self.budget = ModelBudget(clock)
        self.working: tuple[int, float] | None = None
        """(frame index, start time) of the frame being processed, for the output thread's wait."""
        self.serial = 0
        self.running = True
        """False once the loop has ended: the output thread then stops waiting for keyframes."""

    def _wait_for_cap(self) -> None:
        while not self.stop.is_set():
            cap, forced = model_cap(self.model_fps()), self.force.is_set()
            remaining = self.budget.wait(cap, forced)
            if remaining <= 0:
                self.budget.spend(cap)
                return
            (self.stop if forced else self.force).wait(min(remaining, POLL_SECONDS))

    def _newest(self) -> tuple[VideoFrame, float] | None:
        """The newest camera frame; None once the camera has ended (and nothing waits) or on stop."""
        while not self.stop.is_set():
            ended = self.mailbox.closed  # read first: a frame put before the end is still taken
            item = self.mailbox.take(POLL_SECONDS)
            if item is not None or ended:
                return item
        return None

    def run(self) -> None:
        """On the model thread; an error stops the pipeline (its :class:`~app.workers.Crew`)."""
        lowered = False
        try:
            while not self.stop.is_set():
                self._wait_for_cap()
                item = self._newest()
                if item is None:
                    return
                frame, captured_at = item
                self.force.clear()
                if not lowered and self.model_fps() != EVERY_FRAME:  # only the output's rate matters then
                    lowered = lower_this_threads_priority()
                last_start = time.perf_counter()
                self.working = (frame.index, last_start)
                processed = self.process(frame)
                self.times.add("model", time.perf_counter() - last_start)
                self.serial += 1
                self.publish(Keyframe(processed, captured_at, self.serial))
        finally:
            self.working = None
            self.running = False


class OutputLoop:
    """The output side: emits keyframes (``every``) or every camera frame (propagated)."""

    def __init__(self, camera: CameraFrames, model: ModelLoop, propagator: Propagator,
                 sink: OutputStage, settings: Callable[[], object], times: StageTimes,
                 on_latency: Callable[[float], None] | None,
                 composite: CarryStage | None = None) -> None:
        self.camera, self.model, self.propagator, self.sink = camera, model, propagator, sink
        self.composite = composite or (lambda frame: lambda processed: processed)
        self.settings, self.times, self.on_latency = settings, times, on_latency
        self.latest: Keyframe | None = None
        self.used_serial = 0
        self.stats = LiveStats()

    def publish(self, keyframe: Keyframe) -> None:
        """Called by the model thread."""
        with self.camera.cond:
            self.latest = keyframe
            self.camera.cond.notify_all()

    def _emit(self, processed: Processed, captured_at: float) -> None:
        self.sink(processed)
        latency = time.perf_counter() - captured_at
        self.times.add("latency", latency)
        if self.on_latency:
            self.on_latency(latency)
        self.stats.processed += 1

    def _next(self, stop: threading.Event, every: bool) -> tuple[str, object] | None:
        """Wait for work: ('key', Keyframe) in ``every`` mode, ('frame', (frame, t)) otherwise."""
        with self.camera.cond:
            while not stop.is_set():
                if every:
                    self.camera.frames.clear()
                    if self.latest is not None and self.latest.serial != self.used_serial:
                        self.used_serial = self.latest.serial
                        return "key", self.latest
                elif self.camera.frames:
                    return "frame", self.camera.frames.popleft()
                if self.camera.ended and not self.model.running:
                    return None
                self.camera.cond.wait(POLL_SECONDS)
        return None

    def _wait_for_own_keyframe(self, frame: VideoFrame, captured_at: float) -> None:
        """A fast model about to finish this very frame: wait for it rather than propagate."""
        working = self.model.working
        model_ms = self.times.samples.get("model")
        if working is None or working[0] != frame.index or not model_ms:
            return
        expected_done = working[1] + float(np.median(list(model_ms)[-16:])) / 1000.0
        deadline = captured_at + WAIT_FOR_MODEL_SECONDS
        if expected_done > deadline:
            return
        with self.camera.cond:
            while (self.latest is None or self.latest.processed.frame.index != frame.index) and time.perf_counter() < deadline:
                self.camera.cond.wait(max(0.0, deadline - time.perf_counter()))

    def _propagated(self, frame: VideoFrame, captured_at: float) -> Processed | None:
        self._wait_for_own_keyframe(frame, captured_at)
        keyframe = self.latest
        if keyframe is None:
            return None  # nothing stylized yet
        composite = self.composite(frame)  # its matte is made while the cartoon is carried to it
        started = time.perf_counter()
        key = keyframe.processed
        if keyframe.serial != self.used_serial or not self.propagator.has_keyframe:  # new, or new to this mode
            self.used_serial = keyframe.serial
            if key.frame.index == frame.index:
                self.stats.keyframes += 1
                image = self.propagator.arrived(key.frame.image, key.output)
                return composite(Processed(frame, key.styled, image))
            self.propagator.set_keyframe(key.frame.image, key.output)
        result = self.propagator(frame.image)
        if result.needs_keyframe:
            self.model.force.set()
        self.times.add("propagate", time.perf_counter() - started)
        self.stats.propagated += 1
        return composite(Processed(frame, result.image, result.image, propagated=True))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            every = model_fps_of(self.settings()) == EVERY_FRAME
            work = self._next(stop, every)
            if work is None:
                return
            kind, item = work
            if kind == "key":
                self.stats.keyframes += 1
                self._emit(item.processed, item.captured_at)
                continue
            frame, captured_at = item
            processed = self._propagated(frame, captured_at)
            if processed is not None:
                self._emit(processed, captured_at)


def run_keyframe_pipeline(
    frames: Iterable[VideoFrame],
    process: ModelStage,
    sink: OutputStage,
    stop: threading.Event,
    settings: Callable[[], object],
    times: StageTimes,
    on_latency: Callable[[float], None] | None = None,
    propagator: Propagator | None = None,
    composite: CarryStage | None = None,
    model_clock: Callable[[], float] = time.perf_counter,
) -> LiveStats:
    """Run until the source ends or ``stop`` is set; returns counts.

    The stages are handed in once (their contracts in :mod:`app.live.contracts`) and each
    result goes forward: the capture thread mirrors each frame (``mirror``) and hands it
    to the model thread's ``process`` and to the output thread, which carries the newest
    keyframe to it, has it composited by ``composite`` and hands it to ``sink``.
    ``settings()`` is read every frame for ``model_fps`` (``every``, ``auto`` or a number)
    and ``mirror``; ``times`` gains ``model`` (per keyframe), ``propagate`` and
    ``latency`` (per output frame). ``composite(frame)`` is called with each camera frame
    about to be carried to (not in ``every`` mode): with a background, ``process`` returns
    the keyframe's cartoon and this puts each output frame over the background with its
    own matte, made while the cartoon is carried (:mod:`app.live.carried_compositing`).
    ``model_clock`` times the model's cap (a test's camera brings its own time). An
    error in any thread stops them all and is raised here (:class:`~app.workers.Crew`).
    """
    mailbox: NewestWins[tuple[VideoFrame, float]] = NewestWins()
    camera = CameraFrames()

    def capture() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    break
                captured_at = time.perf_counter()
                if getattr(settings(), "mirror", False):  # once, here: both threads see the same picture
                    frame = replace(frame, image=np.ascontiguousarray(frame.image[:, ::-1]))
                item = (frame, captured_at)
                mailbox.put(item)
                camera.put(item)
        finally:
            mailbox.close()
            camera.finish()

    loop: OutputLoop
    model = ModelLoop(process, mailbox, lambda: model_fps_of(settings()), stop, times,
                      lambda keyframe: loop.publish(keyframe), model_clock)
    loop = OutputLoop(camera, model, propagator or default_propagator(), sink, settings, times, on_latency, composite)
    crew = Crew(stop)
    crew.start(capture, "capture")
    crew.start(model.run, "model")
    try:
        loop.run(stop)
    finally:
        crew.join()
    crew.raise_first()
    loop.stats.dropped = mailbox.dropped
    return loop.stats
