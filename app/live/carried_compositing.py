"""Live keyframes with a background: every frame that goes out, over the background with its own matte.

With ``--model-fps auto|N`` most output frames are a keyframe's cartoon carried to a
later camera frame along the motion (:mod:`app.live.pipeline`). The model thread's
chain still runs the person matte on each keyframe, but only to limit the bg pass to
the person's boxes; it does not composite. The output thread composites every frame
it emits, keyframes included, here: the matte of that frame's own camera picture
(segment, steady along the output frames' own motion, main person, refine: about
10 ms at 720p), and the carried cartoon put over the background. Carrying an already
composited keyframe instead would drag the key colour or the backdrop along with
the person's motion, and leave the cut-out where the person was.

The matte has its own segmentation model and its own steady history: it sees every
output frame in order, so it is as steady as the every-frame matte, and MediaPipe's
graph is never called from two threads. It runs on a thread of its own while the
output thread carries the cartoon to the same frame (:meth:`CarriedCompositor.begin`,
then :meth:`~CarriedCompositor.finish`): the two need only the camera frame, and one
after the other they took about 45 ms a 720p frame at load 4-6, more than a 30 fps
frame period (docs/compositing.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from dctnet.engine import Stylizer
from common.errors import LiveToonError
from flow.estimate import DEFAULT_MAX_SIDE, SequenceFlow
from matte.composite import mix_camera
from matte.stage import Matte

from app.chain_builder import Compositing, CompositorSlot
from app.compositing import Compositor, Kind
from app.frames import VideoFrame
from app.pipeline import Processed, StageTimes

def needs_own_model_pass(compositor: Compositor | None) -> bool:
    """A stylized video backdrop needs a bg pass for each output frame: carrying the person
    saves nothing there, so live runs the model on every frame it can take instead."""
    return compositor is not None and compositor.choice.kind is Kind.VIDEO and compositor.background.stylized


@dataclasses.dataclass(frozen=True)
class PendingMatte:
    """A frame's matte being made on the matte thread, and the compositor it is for."""

    compositor: Compositor | None
    matte: Future[Matte] | None


class CarriedCompositor:
    """On the output thread: ``begin`` with each frame it will emit, ``finish`` with its cartoon."""

    def __init__(self, times: StageTimes, model_lock: threading.Lock) -> None:
        """``model_lock`` is held by the model thread while it runs the Stylizer: a stylized
        still backdrop (made once per size and style) is made under it, never beside a model run."""
        self.times, self.model_lock = times, model_lock
        self.motion = SequenceFlow(DEFAULT_MAX_SIDE, both_ways=False)
        self.slot = CompositorSlot()
        """The matte thread's own compositor and selfie model."""
        self._worker: ThreadPoolExecutor | None = None
        """One thread: the mattes are made one at a time, in the frames' order (the steady history)."""

    def begin(self, frame: VideoFrame, wish: Compositing, anchor: tuple[float, float] | None) -> PendingMatte:
        """Start the matte of ``frame`` for the background ``wish`` asks for; ``anchor`` is the
        newest keyframe's main face centre, for "main person only"."""
        if wish != self.slot.built:
            with contextlib.suppress(LiveToonError):  # a bad one keeps the previous: the model thread's
                self.slot.build(wish)  # LiveProcessor says why and takes the wish back
        compositor = self.slot.compositor
        if compositor is None:
            return PendingMatte(None, None)
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matte")
        return PendingMatte(compositor, self._worker.submit(self._matte, compositor, frame, anchor))

    def _matte(self, compositor: Compositor, frame: VideoFrame, anchor: tuple[float, float] | None) -> Matte:
        started = time.perf_counter()
        matte = compositor.matte(frame.image, self.motion(frame.image), anchor, frame.time)
        self.times.add("carried matte", time.perf_counter() - started)
        return matte

    def finish(self, processed: Processed, pending: PendingMatte, stylizer: Stylizer | None,
               strength: float = 1.0) -> Processed:
        """``processed`` (the frame ``begin`` had, the cartoon carried to it), mixed with that
        frame's camera picture by ``strength`` inside the person only, over the background."""
        compositor = pending.compositor
        frame = processed.frame
        if compositor is None or pending.matte is None:
            return dataclasses.replace(processed, output=mix_camera(processed.output, frame.image, strength, None))
        matte = pending.matte.result()
        processed = dataclasses.replace(processed, output=mix_camera(processed.output, frame.image, strength,
                                                                     matte.alpha))
        matted = time.perf_counter()
        stylized = compositor.background.stylized and compositor.choice.kind is Kind.IMAGE
        makes_backdrop = stylized and not compositor.background.cached_for(*frame.image.shape[:2], stylizer)
        with self.model_lock if makes_backdrop else contextlib.nullcontext():  # made once, then cached
            composed, alpha = compositor.compose(frame.image, processed.output, matte, stylizer if stylized else None)
        self.times.add("carried composite", time.perf_counter() - matted)
        return dataclasses.replace(processed, output=composed, alpha=alpha,
                                   foreground=processed.output if alpha is not None else None)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        self.slot.close()
