"""The per-frame chain, shared by file conversion and the live app:
faces -> (person matte) -> model -> stabilizer -> (compositor).

:class:`FrameProcessor` is what both modes run on each frame; how frames reach it
differs: every frame in order through queues (:mod:`app.files.pipeline`), or the
newest frame, with the camera frames in between carried along the motion
(:mod:`app.live.pipeline`). Live, a frame goes in and its output comes out
(:meth:`FrameProcessor.__call__`). Files may use a two-sided stabilizer
(:mod:`flow.two_sided`), which holds frames back until it has seen their future:
:meth:`FrameProcessor.push` and :meth:`FrameProcessor.finish` hand out what is
done. :class:`StageTimes` collects each stage's milliseconds for ``bench`` and the
window.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from dctnet.engine import Stylizer
from faces.finder import Face
from faces.tracking import FaceSource
from flow.estimate import DEFAULT_MAX_SIDE, FlowPair, SequenceFlow
from flow.stabilize import Stabilizer
from flow.two_sided import TwoSidedStabilizer
from matte import device
from matte.composite import mix_camera
from matte.person import Box
from matte.stage import Matte

from app.compositing import Compositor, Kind, face_centre
from app.frames import VideoFrame

WINDOW = 4096
"""Timing samples kept per stage: a rolling window, so a long live run stays flat."""


@dataclass
class StageTimes:
    """Milliseconds per stage per frame; medians and p95 for ``bench`` and the GUI."""

    samples: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(lambda: deque(maxlen=WINDOW)))

    def add(self, stage: str, seconds: float) -> None:
        self.samples[stage].append(seconds * 1000.0)

    def summary(self) -> dict[str, tuple[float, float]]:
        return {k: (float(np.median(v)), float(np.percentile(v, 95))) for k, v in self.samples.items() if v}


@dataclass
class Processed:
    frame: VideoFrame
    styled: np.ndarray  # the per-frame output, before stabilization
    output: np.ndarray  # what goes to the sinks (opaque: with transparent, the person over the key colour)
    propagated: bool = False  # carried from an earlier model frame along the motion (app.live.pipeline)
    alpha: np.ndarray | None = None
    """With ``--background transparent``: the person matte, uint8 HxW at the output's size
    (255 = person); None when the output is opaque."""
    foreground: np.ndarray | None = None
    """With an alpha: the cartoon's own colours under it (not mixed with the key colour), for
    outputs that carry alpha; None otherwise."""

    def bgra(self) -> np.ndarray:
        """The output as BGRA: the foreground's colours with the alpha, or opaque when there is none.

        Colours under alpha 0 are black: outside the person's boxes the cartoon is the camera
        picture (the bg pass runs on the boxes only), and a receiver that ignores alpha must
        not show the room."""
        if self.alpha is None:
            return cv2.cvtColor(self.output, cv2.COLOR_BGR2BGRA)
        colour = self.foreground if self.foreground is not None else self.output
        return cv2.merge([*cv2.split(cv2.bitwise_and(colour, colour, mask=self.alpha)), self.alpha])


@dataclass
class Staged:
    """A frame through every stage before the stabilizer: what the later ones need of it."""

    frame: VideoFrame
    styled: np.ndarray | torch.Tensor
    """A device tensor when the chain runs on the device (``FrameProcessor.on_device``)."""
    motion: FlowPair | None
    matte: Matte | None
    propagated: bool = False
    camera: torch.Tensor | None = None
    """The camera picture on the device, where a device chain's later stages need it (the
    matte's guide, strength, a blurred backdrop); uploaded once."""


class FrameProcessor:
    """The per-frame chain, shared by file conversion and the live app.

    The input's motion is estimated once per frame here and shared by every stage
    that needs it (the stabilizer and the person matte), never computed twice.
    With a ``compositor`` (a background other than ``keep``) the person matte runs
    before the model, which then stylizes only the person's boxes, and the cartoon
    person is put over the chosen background after stabilization.
    """

    def __init__(self, stylizer: Stylizer, tracker: FaceSource | None,
                 stabilizer: Stabilizer | TwoSidedStabilizer | None,
                 times: StageTimes | None = None, compositor: Compositor | None = None, on_device: bool = False) -> None:
        self.stylizer, self.tracker, self.stabilizer = stylizer, tracker, stabilizer
        self.compositor = compositor
        self.on_device = on_device
        """Keep the frame on the device from the model to the one download for the sinks: the
        stabilizer (:mod:`flow.device`), the matte's refinement, strength and the compositing
        (:mod:`matte.device`) run on tensors there. Taken only where the Stylizer leaves its
        result on a device (:class:`~dctnet.frame_ops.TensorOps`: on CUDA, or on the CPU when
        asked, to test it) and the chain composites itself; the two-sided stabilizer is not
        ported (``build_chain`` leaves files on the host path)."""
        self.flow_ahead: bool | None = None
        """Estimate the frame's motion on its own thread, started as the frame arrives, beside
        the faces and the model (the flow depends on the input frames only: the same flow,
        off the critical path). None: only when the model runs on CUDA, where the CPU would
        otherwise wait for the GPU; on a CPU the two compete for the same cores."""
        self._flow_thread: ThreadPoolExecutor | None = None
        self._backdrop: tuple[np.ndarray, torch.Tensor] | None = None
        """The last backdrop picture uploaded and its device copy: a colour or a still is
        uploaded once, not every frame."""
        self.times = times or StageTimes()
        # The two-sided stabilizer also carries frames back in time: it needs both flows.
        self.motion = SequenceFlow(DEFAULT_MAX_SIDE, both_ways=isinstance(stabilizer, TwoSidedStabilizer))
        self.composite = True
        """False: the matte still limits the bg pass to the person's boxes, but the cartoon is
        returned as it is (strength not applied either), for a caller that puts each frame it
        emits over the background with that frame's own matte (live keyframes carried along
        the motion)."""
        self.strength = 1.0
        """The cartoon's share inside the person (:func:`matte.composite.mix_camera`); live only."""
        self.outside: Callable[[np.ndarray, np.ndarray, list[Box]], np.ndarray] | None = None
        """With ``composite`` off: what the cartoon gets outside the person's boxes, where the bg
        pass did not run (the camera picture), before it is carried to later frames
        (:func:`app.files.keyframes.stylized_outside`; set by the live processor)."""
        self.anchor: tuple[float, float] | None = None
        """The main face's centre in the last frame processed, for "main person only" on
        frames this chain did not see (carried ones)."""
        self._held_seconds = 0.0
        """Two-sided stabilizer time not yet shared out among the frames it finished."""

    def _motion(self, image: np.ndarray) -> FlowPair | None:
        """This frame's motion when a stage needs it; otherwise the flow forgets, so it never
        relates frames far apart when a stage is switched back on."""
        if self.compositor is not None or (self.stabilizer is not None and self.stabilizer.stability > 0.0):
            return self.motion(image)
        self.motion.reset()
        return None

    def _device_frame(self) -> bool:
        """Whether this frame runs on the device (see ``on_device``)."""
        return self.on_device and self.composite and self.stylizer.keeps_frames_on_device

    def _motion_started(self, image: np.ndarray) -> Future[tuple[FlowPair | None, float]]:
        """This frame's motion and the seconds it took, on the flow thread or here (see ``flow_ahead``)."""
        def timed() -> tuple[FlowPair | None, float]:
            started = time.perf_counter()
            return self._motion(image), time.perf_counter() - started

        ahead = self.flow_ahead if self.flow_ahead is not None else self.stylizer.choice.is_cuda
        if ahead:
            if self._flow_thread is None:
                self._flow_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flow")
            return self._flow_thread.submit(timed)
        done: Future[tuple[FlowPair | None, float]] = Future()
        done.set_result(timed())
        return done

    def find_faces(self, frame: VideoFrame) -> list[Face]:
        """The frame's faces, main face first, for the model; the main face's centre is the
        anchor the matte keeps "main person only" on."""
        faces = self.tracker.update(frame.image, frame.time) if self.tracker else []
        self.anchor = face_centre(faces[0]) if faces else None
        return faces

    def stage(self, frame: VideoFrame) -> Staged:
        """Faces, motion, matte and model: everything before the stabilizer. The motion is
        waited for where it is first needed: the matte, or else the stabilizer after the model."""
        started = time.perf_counter()
        pending = self._motion_started(frame.image)
        faces = self.find_faces(frame)
        faced = time.perf_counter()
        motion = pending.result()[0] if self.compositor is not None else None
        moved = time.perf_counter()
        on_device = self._device_frame()
        camera = None
        if on_device and (self.compositor is not None or self.strength < 1.0):
            camera = device.upload(frame.image, self.stylizer.choice.device)
        matte = None
        if self.compositor is not None:
            gray = device.gray_levels(camera) if camera is not None else None
            matte = self.compositor.matte(frame.image, motion, self.anchor, frame.time, full_gray=gray)
            self.times.add("matte", time.perf_counter() - moved)
        matted = time.perf_counter()
        styled = self.stylizer.stylize(frame.image, faces, region=matte.boxes if matte else None, keep=on_device)
        if matte is not None and self.outside is not None and not self.composite:
            styled = self.outside(styled, frame.image, matte.boxes)
        stylized = time.perf_counter()
        motion, flow_seconds = pending.result()
        self.times.add("face", faced - started)
        self.times.add("flow", flow_seconds)  # its own cost, wherever it ran
        self.times.add("stylize", stylized - matted)
        return Staged(frame, styled, motion, matte, camera=camera)

    def __call__(self, frame: VideoFrame) -> Processed:
        """One frame in, its output out (live): the stabilizer, if any, must be the causal one."""
        if isinstance(self.stabilizer, TwoSidedStabilizer):
            raise TypeError("a two-sided stabilizer holds frames back: use push() and finish()")
        staged = self.stage(frame)
        started = time.perf_counter()
        output = self.stabilizer.step(staged.motion, staged.styled, frame.time) if self.stabilizer else staged.styled
        self.times.add("stabilize", time.perf_counter() - started)
        return self.finished(staged, output)

    def push(self, frame: VideoFrame) -> list[Processed]:
        """Files: every frame in order; returns the frames finished so far, in order (a
        two-sided stabilizer holds the newest back). :meth:`finish` returns the rest."""
        if not isinstance(self.stabilizer, TwoSidedStabilizer):
            return [self(frame)]
        staged = self.stage(frame)
        started = time.perf_counter()
        ready = self.stabilizer.push(staged.motion, staged.styled, frame.time, staged)
        return self._finished_held(ready, time.perf_counter() - started)

    def finish(self) -> list[Processed]:
        """The frames a two-sided stabilizer still holds, at the end of a file."""
        if not isinstance(self.stabilizer, TwoSidedStabilizer):
            return []
        started = time.perf_counter()
        ready = self.stabilizer.finish()
        return self._finished_held(ready, time.perf_counter() - started)

    def _finished_held(self, ready: list[tuple[Staged, np.ndarray]], seconds: float) -> list[Processed]:
        """Released frames, finished; the stabilizer's time since the last release is shared
        out among them, so its median is the cost per frame, not that of a backward walk."""
        self._held_seconds += seconds
        for _ in ready:
            self.times.add("stabilize", self._held_seconds / len(ready))
        if ready:
            self._held_seconds = 0.0
        return [self.finished(staged, output) for staged, output in ready]

    def finished(self, staged: Staged, output: np.ndarray | torch.Tensor) -> Processed:
        """``output`` (the stabilized cartoon), mixed with the camera by ``strength`` inside the
        person, over the background with the frame's matte (as it is when ``composite`` is off)."""
        if isinstance(output, torch.Tensor):
            return self._finished_on_device(staged, output)
        if not self.composite:
            return Processed(staged.frame, staged.styled, output, propagated=staged.propagated)
        output = mix_camera(output, staged.frame.image, self.strength,
                            staged.matte.alpha if staged.matte is not None else None)
        if staged.matte is None:
            return Processed(staged.frame, staged.styled, output, propagated=staged.propagated)
        started = time.perf_counter()
        composed, alpha = self.compositor.compose(staged.frame.image, output, staged.matte, self.stylizer)
        self.times.add("composite", time.perf_counter() - started)
        return Processed(staged.frame, staged.styled, composed, propagated=staged.propagated, alpha=alpha,
                         foreground=output if alpha is not None else None)

    def _finished_on_device(self, staged: Staged, output: torch.Tensor) -> Processed:
        """:meth:`finished` on the device, then everything the sinks get in one download."""
        matte = staged.matte
        output = device.mix_camera(output, staged.camera, self.strength, matte.alpha if matte is not None else None)
        if matte is None:
            home, styled = self.stylizer.ops.download_all([output, staged.styled])
            return Processed(staged.frame, styled, home, propagated=staged.propagated)
        started = time.perf_counter()
        composed = device.over(output, self._backdrop_on_device(staged), matte.alpha)
        self.times.add("composite", time.perf_counter() - started)
        if not self.compositor.transparent:
            home, styled = self.stylizer.ops.download_all([composed, staged.styled])
            return Processed(staged.frame, styled, home, propagated=staged.propagated)
        home, styled, foreground, alpha = self.stylizer.ops.download_all([composed, staged.styled, output, matte.alpha])
        return Processed(staged.frame, styled, home, propagated=staged.propagated, alpha=alpha, foreground=foreground)

    def _backdrop_on_device(self, staged: Staged) -> torch.Tensor:
        """What goes behind the person, on the device: a blur grown back there, any other
        picture (made by the compositor's background source on the host) uploaded when new."""
        camera = staged.frame.image
        where = self.stylizer.choice.device
        if self.compositor.choice.kind is Kind.BLUR:
            return device.blurred(camera, where)
        picture = self.compositor.background(camera, self.stylizer)
        if self._backdrop is None or self._backdrop[0] is not picture:
            self._backdrop = (picture, device.upload(picture, where))
        return self._backdrop[1]

    def reset(self) -> None:
        """New clip: forget the tracked face and the temporal history."""
        self.motion.reset()
        self._held_seconds = 0.0
        if self.tracker:
            self.tracker.reset()
        if self.stabilizer:
            self.stabilizer.reset()
        if self.compositor:
            self.compositor.reset()
