"""The live session: a watched source, a processor whose settings change mid-stream, sinks.

Shared by ``livetoon live`` and the window, so both behave the same: the newest
frame wins (latency stays about one processing time), settings changed from another
thread apply to the next frame, a lost camera puts a "camera lost" slate on every
sink instead of a frozen picture, and sinks can be switched on and off while running.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import numpy as np

from dctnet.engine import Mode, Stylizer
from common.errors import LiveToonError
from faces.finder import FaceDetector
from matte.segment import SelfieSegmenter
from dctnet.styles import StyleRegistry
from faces.tracking import FaceTracker
from flow.stabilize import Stabilizer

from app.chain_builder import ChainSettings, Compositing, build_chain, build_compositor
from app.compositing import Compositor
from app.files.keyframes import stylized_outside
from app.frames import VideoFrame
from app.live.audio import FileSound, PlaybackClock, has_audio
from app.live.carried_compositing import CarriedCompositor, needs_own_model_pass
from app.live.contracts import SourceState
from app.live.pipeline import LiveStats, run_keyframe_pipeline
from app.live.settings import EVERY_FRAME, FileSpec, LiveSettings, SourceSpec
from app.live.sink_set import RateMeter, SinkSet
from app.live.sources import StatusHook, open_source
from app.live.wishes import Wishes
from app.pipeline import FrameProcessor, Processed, StageTimes

def _compositing_of(settings: LiveSettings) -> Compositing:
    return Compositing(settings.background, settings.main_person_only, settings.stylize_background)


class LiveProcessor:
    """The frame chain, rebuilt piecewise when settings change (on the processing thread).

    Owns a :class:`FrameProcessor` (faces -> matte -> model -> stabilizer -> compositor),
    built by :func:`~app.chain_builder.build_chain` when the first style loads, and adds
    what only live needs around it: mirror. Strength is the chain's (every frame) or
    :meth:`composite_carried`'s; bypass is the session's (:meth:`LiveSession._deliver`):
    the cartoon is made either way. ``update`` may be called from any thread; it only
    records the wish (:class:`~app.live.wishes.Wishes`). A style that fails to load keeps
    the previous one and reports through ``on_notice`` (called on the processing thread).
    """

    def __init__(
        self,
        settings: LiveSettings,
        registry: StyleRegistry | None = None,
        on_notice: Callable[[str], None] | None = None,
        times: StageTimes | None = None,
    ) -> None:
        self.registry = registry or StyleRegistry()
        self.on_notice = on_notice or (lambda message: None)
        self.times = times or StageTimes()
        self.chain: FrameProcessor | None = None
        """None until the first style has loaded (``apply_settings``)."""
        self.wishes = Wishes(settings)
        self._detector: FaceDetector | None = None
        self._tracker: FaceTracker | None = None
        self._segmenter: SelfieSegmenter | None = None
        self.compositor: Compositor | None = None
        self._background_built: Compositing | None = None
        """The background settings the compositor was built for (None: not built yet)."""
        self.device_text = ""
        self.model_lock = threading.Lock()
        """Held while the chain runs on the model thread (see :class:`CarriedCompositor`)."""
        self.carried = CarriedCompositor(self.times, self.model_lock)

    @property
    def settings(self) -> LiveSettings:
        """The wished settings. Frames are carried with every background (each output frame
        composited with its own matte, :meth:`composite_carried`) but a stylized video
        backdrop: there every output frame needs a bg pass of its own, so the model runs on
        every frame it can take."""
        wanted = self.wishes.wanted
        if wanted.model_fps != EVERY_FRAME and needs_own_model_pass(self.compositor):
            return dataclasses.replace(wanted, model_fps=EVERY_FRAME)
        return wanted

    @property
    def stabilizer(self) -> Stabilizer | None:
        """The chain's stabilizer (None before the first style has loaded)."""
        return self.chain.stabilizer if self.chain else None

    def composite_carried(self, frame: VideoFrame) -> Callable[[Processed], Processed]:
        """On the output thread, with a frame about to be carried to: its matte starts now, and
        the function returned puts the carried cartoon over the background with it."""
        chain = self.chain
        pending = self.carried.begin(frame, _compositing_of(self.settings), chain.anchor if chain else None)
        strength = self.settings.strength
        return lambda processed: self.carried.finish(processed, pending, self.stylizer, strength)

    @property
    def stylizer(self) -> Stylizer | None:
        return self.chain.stylizer if self.chain else None

    def update(self, **changes: object) -> LiveSettings:
        """Wish for ``changes`` (names and types checked here, by :meth:`LiveSettings.changed`)."""
        return self.wishes.update(**changes)

    def _load_stylizer(self, wanted: LiveSettings) -> LiveSettings:
        """Load ``wanted``'s style; returns the settings now in force (the previous style
        and device if loading failed). A wish made while loading is left for the next frame."""
        active = self.wishes.active
        try:
            stylizer = Stylizer.from_style(self.registry.get(wanted.style), device=wanted.device,
                                           mode=wanted.mode, max_size=wanted.max_size)
        except LiveToonError as exc:
            if self.chain is None or active is None:
                raise  # nothing to fall back on: the session cannot start
            self.on_notice(f"style {wanted.style!r} not loaded: {exc}")
            kept = {"style": active.style, "device": active.device, "max_size": active.max_size}
            self.wishes.take_back(wanted, ("style", "device"), **kept)
            return dataclasses.replace(wanted, **kept)
        if self.chain is None:
            self.chain = build_chain(stylizer, None, ChainSettings(wanted.stability), times=self.times)
        self.chain.stylizer = stylizer
        self.device_text = stylizer.choice.describe()
        self.chain.stabilizer.reset()  # the old style's output is no history for the new one
        return wanted

    def apply_settings(self) -> LiveSettings:
        """Bring the chain in line with the wished settings (called before every frame)."""
        wanted = self.wishes.wanted
        active = self.wishes.active
        if active is None or (wanted.style, wanted.device, wanted.max_size) != (active.style, active.device, active.max_size):
            wanted = self._load_stylizer(wanted)
        chain = self.chain
        assert chain is not None  # _load_stylizer made it or raised
        chain.stylizer.mode = Mode(wanted.mode)
        chain.stabilizer.stability = wanted.stability
        chain.tracker = self._face_tracker() if chain.stylizer.mode.needs_faces else None
        if _compositing_of(wanted) != self._background_built:
            wanted = self._load_compositor(wanted)
        chain.compositor = self.compositor
        chain.composite = self.settings.model_fps == EVERY_FRAME  # else the output thread composites
        chain.strength = wanted.strength
        chain.outside = None if chain.composite else stylized_outside  # the cartoon is carried: no camera outside the boxes
        self.wishes.active = wanted
        return wanted

    def _load_compositor(self, wanted: LiveSettings) -> LiveSettings:
        """The background ``wanted`` asks for; a bad one (a file gone, a bad colour) keeps the
        previous background and says why, or fails the start when there is none."""
        previous = self.compositor
        try:
            self.compositor = build_compositor(_compositing_of(wanted), self._selfie_segmenter)
        except LiveToonError as exc:
            if self._background_built is None:
                raise
            self.on_notice(str(exc))
            built = self._background_built
            self.wishes.take_back(wanted, ("background",), background=built.background)
            return dataclasses.replace(wanted, background=built.background, main_person_only=built.main_person_only,
                                       stylize_background=built.stylize_background)
        if previous is not None:
            previous.close()
        if wanted.model_fps != EVERY_FRAME and needs_own_model_pass(self.compositor):
            self.on_notice(f"a stylized video background needs the model on every frame: it runs on every frame "
                           f"it can take (model fps {wanted.model_fps!r} applies to other backgrounds)")
        self._background_built = _compositing_of(wanted)
        return wanted

    def _selfie_segmenter(self) -> SelfieSegmenter:
        """MediaPipe's selfie model loads on first need, then serves every compositor of the session."""
        if self._segmenter is None:
            self._segmenter = SelfieSegmenter()
        return self._segmenter

    def _face_tracker(self) -> FaceTracker:
        """MediaPipe starts on first need (a background-only session never loads it)."""
        if self._tracker is None:
            self._detector = FaceDetector(static_image_mode=False)
            self._tracker = FaceTracker(self._detector)
        return self._tracker

    def __call__(self, frame: VideoFrame) -> Processed:
        settings = self.apply_settings()
        if settings.mirror:
            frame = dataclasses.replace(frame, image=np.ascontiguousarray(frame.image[:, ::-1]))
        assert self.chain is not None  # apply_settings made it or raised
        with self.model_lock:
            return self.chain(frame)

    def reset(self) -> None:
        """A new session: forget the tracked face, the motion and the temporal history."""
        if self._tracker:
            self._tracker.reset()
        if self.chain:
            self.chain.reset()

    def close(self) -> None:
        self.carried.close()
        if self._detector:
            self._detector.close()
        self._detector = self._tracker = None
        if self.compositor is not None:
            self.compositor.close()
        if self._segmenter is not None:
            self._segmenter.close()
        self._segmenter = self.compositor = None
        self._background_built = None  # a later session builds its compositor again
        if self.chain:
            self.chain.tracker = self.chain.compositor = None


class LiveSession:
    """Runs source -> processor -> sinks until stopped; safe to drive from a GUI thread.

    Wired at construction and only there: the source reports to the session, which
    puts the "camera lost" slate on the sinks before telling ``on_status``.
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
        self.on_frame = on_frame
        self._on_status = on_status or (lambda state, detail: None)
        self.meter = RateMeter()
        self.stop_event = threading.Event()
        self._lost_at = 0.0
        self.clock = PlaybackClock()
        self.source = open_source(source, self._source_status, wait_for_camera, self.clock)
        self.sound_file = source.path if isinstance(source, FileSpec) and has_audio(source.path) else None
        """A file source's own audio, which recordings carry (said now: a recording opened before
        ``run`` makes its sound track for it)."""
        self.sinks.audio.set_label(f"sound of {self.sound_file.name}" if self.sound_file else "")

    def _source_status(self, state: SourceState, detail: str) -> None:
        if state is SourceState.LOST:
            self._lost_at = time.perf_counter()
            self.sinks.show_lost()
        self._on_status(state, detail)

    def _deliver(self, processed: Processed) -> None:
        settings = self.processor.settings
        if settings.bypass:  # the preview shows the camera; the outputs only when explicitly asked
            camera = Processed(processed.frame, processed.frame.image, processed.frame.image)
            processed, preview = (camera, camera) if settings.raw_to_outputs else (processed, camera)
        else:
            preview = processed
        if processed.frame.time >= self._lost_at:  # one captured before the loss must not lift the slate
            self.sinks.submit(processed.output, processed.bgra if processed.alpha is not None else None,
                              processed.frame.time)
        if self.on_frame:
            self.on_frame(preview)

    def run(self) -> LiveStats:
        """Block until ``stop()`` (or a file source without looping ends); sinks stay open."""
        self.processor.reset()
        sound = FileSound(self.sound_file, self.clock, self.sinks.audio).start() if self.sound_file else None
        try:
            frames = self.sinks.rest.frames(self.source.frames(self.stop_event))
            return run_keyframe_pipeline(frames, self.processor, self._deliver,
                                         self.stop_event, lambda: self.processor.settings, self.processor.times,
                                         on_latency=self.meter.add, composite=self.processor.composite_carried)
        finally:
            if sound:
                sound.stop()
            self.processor.close()
            self.source.close()

    def stop(self) -> None:
        self.stop_event.set()
