"""Keyframes for files: stylize some frames, carry them to the others along the flow.

``convert --keyframes N|auto`` trades quality for speed on long files (fast
previews): the model runs on every Nth frame (or adaptively, when the motion since
the last keyframe can no longer be followed) and :mod:`flow.propagate` makes the
frames in between. Untrusted pixels blend toward a toon-filter stylization of a small
crop around them: never toward the camera picture, which measured a little better
(docs/benchmarks.md section 7) but put the real face on screen after every cut and
big move (docs/privacy.md).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dctnet.toon_teacher import render_toon
from flow.propagate import Fill, Keyframer, Propagator, stylize_small
from matte.person import Box
from matte.stage import Matte

from app.frames import VideoFrame
from app.pipeline import FrameProcessor, Staged


AUTO_KEYFRAMES = 0
"""What ``--keyframes auto`` parses to: adaptive by motion."""


def parse_keyframes(text: str) -> int:
    """``N`` (a keyframe every Nth frame, N >= 1) or ``auto`` (:data:`AUTO_KEYFRAMES`)."""
    if text.strip().lower() == "auto":
        return AUTO_KEYFRAMES
    try:
        every = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of frames or 'auto', got {text!r}") from None
    if every < 1:
        raise argparse.ArgumentTypeError(f"the keyframe interval must be at least 1, got {every}")
    return every


@torch.no_grad()
def toon_filter(crop_bgr: np.ndarray) -> np.ndarray:
    """The ``toon-filter`` look of a small BGR crop, on the CPU: a candidate fill for untrusted
    pixels (the built-in styles learned this renderer); measured against the others by
    ``benchmarks.keyframes``."""
    x = torch.from_numpy(np.ascontiguousarray(crop_bgr)).permute(2, 0, 1)[None].float()
    return render_toon(x)[0].permute(1, 2, 0).round().to(torch.uint8).numpy()


def stylized_outside(cartoon_bgr: np.ndarray, camera_bgr: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """``cartoon_bgr``, whose bg pass ran on the person's ``boxes`` only (the camera picture
    outside them), with the outside stylized too, cheaply (:func:`toon_filter` at a small size).

    Only for a cartoon that is carried along the motion to later frames: a person moving past
    the boxes would otherwise carry the camera picture into the cut-out (up to 9% of the person
    on some frames, docs/compositing.md). Nothing raw may reach an output (docs/privacy.md).
    """
    h, w = cartoon_bgr.shape[:2]
    inside = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in boxes:
        inside[max(0, y0):min(h, y1), max(0, x0):min(w, x1)] = True
    if inside.all():
        return cartoon_bgr
    out = stylize_small(toon_filter, camera_bgr)
    out[inside] = cartoon_bgr[inside]
    return out


FILL = Fill.STYLIZE
"""The fill LiveToon uses: the best private one measured (docs/benchmarks.md section 7, docs/privacy.md)."""


def propagator() -> Propagator:
    """The propagation stage as LiveToon uses it."""
    return Propagator(FILL, stylize=toon_filter)


class KeyframeProcessor(FrameProcessor):
    """A :class:`FrameProcessor` that runs faces and the model on keyframes only.

    The stabilizer still sees every frame (propagated frames included), so the output
    is as steady as without keyframes; ``propagate`` is timed as its own stage. With a
    background, every frame gets the person matte of its own picture and is put over
    the background: carrying a composited keyframe would move the background with the
    person. The keyframe's bg pass runs on its own person's boxes; outside them its
    cartoon is a cheap stylization (:func:`stylized_outside`), so where the person has
    moved past them the carried frame is still a cartoon, never the camera picture.
    """

    def __init__(self, inner: FrameProcessor, every: int | None) -> None:
        super().__init__(inner.stylizer, inner.tracker, inner.stabilizer, inner.times, inner.compositor)
        self.keyframer = Keyframer(propagator(), every)

    def _stylize(self, frame: VideoFrame, matte: Matte | None) -> np.ndarray:
        started = time.perf_counter()
        faces = self.find_faces(frame)
        faced = time.perf_counter()
        styled = self.stylizer.stylize(frame.image, faces, region=matte.boxes if matte else None)
        if matte is not None:
            styled = stylized_outside(styled, frame.image, matte.boxes)
        self.times.add("face", faced - started)
        self.times.add("stylize", time.perf_counter() - faced)
        return styled

    def stage(self, frame: VideoFrame) -> Staged:
        """The matte on every frame; faces and the model on keyframes, the rest carried."""
        motion = self._motion(frame.image)
        matte = None
        if self.compositor is not None:
            matted = time.perf_counter()  # the anchor is the newest keyframe's main face
            matte = self.compositor.matte(frame.image, motion, self.anchor, frame.time)
            self.times.add("matte", time.perf_counter() - matted)
        started = time.perf_counter()
        styled, keyframe = self.keyframer(frame.image, lambda: self._stylize(frame, matte))
        if not keyframe:
            self.times.add("propagate", time.perf_counter() - started)
        return Staged(frame, styled, motion, matte, propagated=not keyframe)

    def reset(self) -> None:
        super().reset()
        self.keyframer.reset()
