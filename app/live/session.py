"""The live session: a watched source, the live pipeline, the outputs; wired once, run until stopped.

Shared by ``livetoon live`` and the window, so both behave the same: the newest
frame wins (latency stays about one processing time), settings changed from another
thread apply to the next frame, a lost camera puts a "camera lost" slate on every
sink instead of a frozen picture, and sinks can be switched on and off while running.
The session only wires the stages and starts them: a frame goes one way through
:func:`~app.live.pipeline.run_keyframe_pipeline`, the
:class:`~app.live.processor.LiveProcessor` and the :class:`~app.live.delivery.Delivery`,
and nothing calls back into this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from app.live.audio import FileSound, PlaybackClock, has_audio
from app.live.delivery import Delivery
from app.live.pipeline import LiveStats, run_keyframe_pipeline
from app.live.processor import LiveProcessor
from app.live.settings import FileSpec, SourceSpec
from app.live.sink_set import RateMeter, SinkSet
from app.live.sources import StatusHook, open_source
from app.pipeline import Processed


class LiveSession:
    """Runs source -> pipeline -> delivery until stopped; safe to drive from a GUI thread.

    Wired at construction and only there: the source reports to the :class:`Delivery`,
    which puts the "camera lost" slate on the sinks before telling ``on_status``.
    """

    def __init__(
        self,
        source: SourceSpec,
        processor: LiveProcessor,
        sinks: SinkSet | None = None,
        on_status: StatusHook | None = None,
        on_frame: Callable[[Processed], None] | None = None,
        wait_for_camera: bool = False,
    ) -> None:
        """Opens (and so checks) ``source`` now: see :func:`~app.live.sources.open_source`.

        ``on_status`` hears the source's state after the sinks have been told (a lost
        camera puts the slate on every output first); ``on_frame`` each frame after
        the sinks. Both are called on pipeline threads.
        """
        self.processor = processor
        self.sinks = sinks if sinks is not None else SinkSet()
        self.delivery = Delivery(self.sinks, processor.read_settings, on_frame, on_status)
        self.meter = RateMeter()
        self.stop_event = threading.Event()
        self.clock = PlaybackClock()
        self.source = open_source(source, self.delivery.source_status, wait_for_camera, self.clock)
        self.sound_file = source.path if isinstance(source, FileSpec) and has_audio(source.path) else None
        """A file source's own audio, which recordings carry (said now: a recording opened before
        ``run`` makes its sound track for it)."""
        self.sinks.audio.set_label(f"sound of {self.sound_file.name}" if self.sound_file else "")

    def run(self) -> LiveStats:
        """Block until ``stop()`` (or a file source without looping ends); sinks stay open."""
        self.processor.reset()
        sound = FileSound(self.sound_file, self.clock, self.sinks.audio).start() if self.sound_file else None
        try:
            frames = self.sinks.rest.frames(self.source.frames(self.stop_event))
            return run_keyframe_pipeline(frames, self.processor, self.delivery, self.stop_event,
                                         self.processor.read_settings, self.processor.times,
                                         on_latency=self.meter.add, composite=self.processor.composite_carried)
        finally:
            if sound:
                sound.stop()
            self.processor.close()
            self.source.close()

    def stop(self) -> None:
        self.stop_event.set()
