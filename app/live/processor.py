"""The model thread's stage of the live pipeline: the chain, its settings brought in line first.

:class:`LiveProcessor` is what ``livetoon live``, the window and the first run's timing
hand to :func:`~app.live.pipeline.run_keyframe_pipeline` as its model stage (a
:class:`~app.live.contracts.ModelStage`) and, through :meth:`LiveProcessor.composite_carried`,
its carry stage. It applies the wished settings (recorded from any thread by
:class:`~app.live.wishes.Wishes`) before each frame, loads styles and backgrounds with
their fallbacks, and starts MediaPipe on first need. It calls nothing of the pipeline's
or the session's: it returns each keyframe to the pipeline, which hands it forward.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from common.errors import LiveToonError
from dctnet.engine import Mode, Stylizer
from dctnet.styles import StyleRegistry
from faces.finder import FaceDetector
from faces.tracking import FaceTracker
from flow.stabilize import Stabilizer

from app.chain_builder import ChainSettings, Compositing, CompositorSlot, build_chain
from app.files.keyframes import stylized_outside
from app.frames import VideoFrame
from app.live.carried_compositing import CarriedCompositor, needs_own_model_pass
from app.live.settings import EVERY_FRAME, LiveSettings
from app.live.wishes import Wishes
from app.pipeline import FrameProcessor, Processed, StageTimes


def _compositing_of(settings: LiveSettings) -> Compositing:
    return Compositing(settings.background, settings.main_person_only, settings.stylize_background)


class LiveProcessor:
    """The frame chain, rebuilt piecewise when settings change (on the processing thread).

    Owns a :class:`FrameProcessor` (faces -> matte -> model -> stabilizer -> compositor),
    built by :func:`~app.chain_builder.build_chain` when the first style loads. Strength is
    the chain's (every frame) or :meth:`composite_carried`'s; mirror is the pipeline's
    capture thread's (every frame is mirrored once, before either thread sees it) and
    bypass the :class:`~app.live.delivery.Delivery`'s: the cartoon is made either way.
    ``update`` may be called from any thread; it only
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
        self.compositors = CompositorSlot()
        """The model thread's compositor and selfie model."""
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
        if wanted.model_fps != EVERY_FRAME and needs_own_model_pass(self.compositors.compositor):
            return dataclasses.replace(wanted, model_fps=EVERY_FRAME)
        return wanted

    def read_settings(self) -> LiveSettings:
        """:attr:`settings` as a function: what the pipeline's threads and the delivery read every frame."""
        return self.settings

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
        if _compositing_of(wanted) != self.compositors.built:
            wanted = self._load_compositor(wanted)
        chain.compositor = self.compositors.compositor
        chain.composite = self.settings.model_fps == EVERY_FRAME  # else the output thread composites
        chain.strength = wanted.strength
        chain.outside = None if chain.composite else stylized_outside  # the cartoon is carried: no camera outside the boxes
        self.wishes.active = wanted
        return wanted

    def _load_compositor(self, wanted: LiveSettings) -> LiveSettings:
        """The background ``wanted`` asks for; a bad one (a file gone, a bad colour) keeps the
        previous background and says why, or fails the start when there is none."""
        built = self.compositors.built
        try:
            self.compositors.build(_compositing_of(wanted))
        except LiveToonError as exc:
            if built is None:
                raise
            self.on_notice(str(exc))
            self.wishes.take_back(wanted, ("background",), background=built.background)
            return dataclasses.replace(wanted, background=built.background, main_person_only=built.main_person_only,
                                       stylize_background=built.stylize_background)
        if wanted.model_fps != EVERY_FRAME and needs_own_model_pass(self.compositors.compositor):
            self.on_notice(f"a stylized video background needs the model on every frame: it runs on every frame "
                           f"it can take (model fps {wanted.model_fps!r} applies to other backgrounds)")
        return wanted

    def _face_tracker(self) -> FaceTracker:
        """MediaPipe starts on first need (a background-only session never loads it)."""
        if self._tracker is None:
            self._detector = FaceDetector(static_image_mode=False)
            self._tracker = FaceTracker(self._detector)
        return self._tracker

    def __call__(self, frame: VideoFrame) -> Processed:
        """The keyframe of ``frame`` (already mirrored by the pipeline when asked), on the model thread."""
        self.apply_settings()
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
        self.compositors.close()  # a later session builds its compositor again
        if self.chain:
            self.chain.tracker = self.chain.compositor = None
