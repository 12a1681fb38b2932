"""The one place where the per-frame chain and its compositor are put together.

``livetoon live`` and the window (through :class:`~app.live.session.LiveProcessor`),
``convert``, ``image``, ``bench`` and the benchmarks all build from the same typed
settings here, so ``bench`` times the very chain ``convert`` runs and a live session
the one the window shows: the chain was once put together in three places, and the
bench timed a different stabilizer than ``convert`` ran. The stabilizers' and the
compositor's constructors are called here only (``tests/test_chain_builder.py``).

Mirror and bypass are not the chain's: they act on the camera frame before it and on
where the output goes after it, live only (:mod:`app.live.session`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dctnet.engine import Stylizer
from faces.tracking import FaceSource
from flow.stabilize import Stabilizer
from flow.two_sided import TwoSidedStabilizer
from matte.stage import Segmenter

from app.compositing import Compositor, Kind, parse_background
from app.files.keyframes import KeyframeProcessor
from app.pipeline import FrameProcessor, StageTimes

if TYPE_CHECKING:
    from matte.segment import SelfieSegmenter  # MediaPipe: imported where a matte runs


@dataclass(frozen=True)
class Compositing:
    """What goes behind the person: ``--background``, ``--everyone`` and ``--stylize-background``
    (``LiveSettings``' ``background``, ``main_person_only`` and ``stylize_background``)."""

    background: str = Kind.KEEP.value
    main_person_only: bool = True
    stylize_background: bool = False


@dataclass(frozen=True)
class ChainSettings:
    """How the chain is built. ``whole_clip``: the chain sees a file, whose future it may wait
    for (the two-sided stabilizer, none at stability 0); live sees one frame at a time (the
    causal stabilizer, kept at stability 0 because the slider can move it).
    ``keyframes`` (files only): None runs the model on every frame, 0 adaptively, N every Nth.
    ``on_device``: where the Stylizer leaves its result on a device (CUDA; the CPU when it is
    built with ``tensor_frames``), the causal chain goes on there to the one download for the
    sinks (``FrameProcessor.on_device``); False downloads after the model, the CPU path's
    stages then run as on a CPU (what tests hold the device chain to). Files keep the host
    path: their two-sided stabilizer and keyframes have no device version."""

    stability: float
    whole_clip: bool = False
    strength: float = 1.0
    keyframes: int | None = None
    on_device: bool = True


def build_compositor(compositing: Compositing, segmenter: Callable[[], Segmenter]) -> Compositor | None:
    """The compositor ``compositing`` asks for, None for ``keep``. ``segmenter`` is called only
    when a matte is needed (MediaPipe's selfie model loads on first need). A bad background
    raises :class:`~common.errors.LiveToonError` before the segmenter is asked for."""
    choice = parse_background(compositing.background)
    if not choice.needs_matte:
        return None
    return Compositor(choice, segmenter(), compositing.main_person_only, compositing.stylize_background)


class CompositorSlot:
    """The compositor one live thread composites with, rebuilt when the wished background changes.

    Each thread that composites (the model thread, the output thread's matte) owns a slot:
    its selfie model is its own, because MediaPipe's graph is never called from two
    threads, and it loads on first need and then serves every compositor the slot builds."""

    def __init__(self) -> None:
        self.compositor: Compositor | None = None
        self.built: Compositing | None = None
        """What the compositor was built for (None: nothing built yet)."""
        self._segmenter: SelfieSegmenter | None = None

    def build(self, wish: Compositing) -> Compositor | None:
        """Replace the compositor by one for ``wish``. A bad background raises
        :class:`~common.errors.LiveToonError` and keeps the previous compositor."""
        compositor = build_compositor(wish, self._selfie_segmenter)
        self.close_compositor()
        self.compositor, self.built = compositor, wish
        return compositor

    def _selfie_segmenter(self) -> SelfieSegmenter:
        if self._segmenter is None:
            from matte.segment import SelfieSegmenter  # MediaPipe: only where a matte runs

            self._segmenter = SelfieSegmenter()
        return self._segmenter

    def close_compositor(self) -> None:
        if self.compositor is not None:
            self.compositor.close()
        self.compositor, self.built = None, None

    def close(self) -> None:
        """The compositor and the selfie model; a later session builds both again."""
        self.close_compositor()
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None


def open_compositor(compositing: Compositing, stack: contextlib.ExitStack) -> Compositor | None:
    """:func:`build_compositor` for a command: ``stack`` owns the segmentation model."""

    def segmenter() -> Segmenter:
        from matte.segment import SelfieSegmenter  # MediaPipe: only where a matte runs

        return stack.enter_context(SelfieSegmenter())

    return build_compositor(compositing, segmenter)


def build_chain(stylizer: Stylizer, tracker: FaceSource | None, settings: ChainSettings,
                compositor: Compositor | None = None, times: StageTimes | None = None) -> FrameProcessor:
    """The per-frame chain: faces -> motion -> [matte] -> model -> stabilizer -> strength -> [compositor]."""
    if settings.whole_clip:
        stabilizer: Stabilizer | TwoSidedStabilizer | None = (
            TwoSidedStabilizer(settings.stability) if settings.stability > 0 else None)
    else:
        stabilizer = Stabilizer(settings.stability)
    chain = FrameProcessor(stylizer, tracker, stabilizer, times, compositor,
                           on_device=settings.on_device and not settings.whole_clip)
    if settings.keyframes is not None:
        if not settings.whole_clip:
            raise ValueError("keyframes are for files: live carries frames on its output thread")
        chain = KeyframeProcessor(chain, settings.keyframes or None)
    chain.strength = settings.strength
    return chain
