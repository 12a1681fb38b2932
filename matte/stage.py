"""The person matte as one per-frame stage: segment, keep steady, pick the person, refine.

It takes a frame, the frame's motion (the :class:`~flow.estimate.FlowPair` the chain
computed once for everything that needs it; None on a first frame) and optionally
where the main face is, and gives a full-resolution uint8 alpha plus the person's
padded boxes. It knows nothing of faces, Qt or outputs; the segmentation model is
anything with ``segment(frame) -> coarse float mask`` (MediaPipe's selfie models in
:mod:`matte.segment`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import torch

from flow.estimate import DEFAULT_MAX_SIDE, FlowPair, shrink_factor, small_gray

from . import device
from .person import Box, main_person_only, person_boxes
from .refine import guided_alpha
from .steady import DEFAULT_STEADINESS, SteadyMatte

BOX_PAD = 24
"""Frame pixels the person's box grows by on every side. The refined alpha reaches past the
coarse matte's BOX_LEVEL: at most 21 px with any alpha, 16 px with alpha >= 5/255, 12 px with
>= 16/255 (carphone and the astronaut at 720p); and the bg pass in a box is the whole-frame
pass's within 1 level from 12 px in, within a few levels nearer its border. So where the
alpha shows, the composite is within 1 level of one over a whole-frame pass (tested);
on 7 frames of carphone and the astronaut that held with 20, 24 and 32 (32 was the first
choice: 0.02 of the frame more work than 24)."""
UNSURE_LOW, UNSURE_HIGH = 0.35, 0.65
BOX_SEAM_ROWS = 20
"""Rows each of two stacked boxes' bg pass computes past their seam and drops (the
Stylizer's ``dctnet.crop_windows.CROP_HALO``): what choosing where to cut weighs."""
STAGES = ("segment", "steady", "refine")
"""What ``on_stage`` reports, each once per frame."""


def decided(coarse: np.ndarray) -> np.ndarray:
    """The model's probabilities with its unsure middle stretched: [UNSURE_LOW, UNSURE_HIGH] -> [0, 1].

    The selfie model answers 0.3-0.7 along a wide band around the person and on
    person-like clutter; the refinement then places the edge, from the frame. On the
    consistency benchmark this raised the mean IoU on every person (docs/compositing.md).
    """
    return cv2.max(cv2.min((coarse - np.float32(UNSURE_LOW)) * np.float32(1.0 / (UNSURE_HIGH - UNSURE_LOW)), 1.0), 0.0)


class Segmenter(Protocol):
    def segment(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Person probability, float32 0..1, at any (small) size with the frame's aspect."""
        ...


@dataclass(frozen=True)
class Matte:
    alpha: np.ndarray | torch.Tensor
    """uint8 HxW at the frame's size: 255 person, 0 background (an ``[H,W]`` float32 tensor of
    those levels when refined on a device)."""
    coarse: np.ndarray
    """The steady, selected matte on the flow's small grid (float32 0..1)."""
    boxes: list[Box]
    """Where the person is, padded, in frame pixels (stacked boxes, :func:`~matte.person.person_boxes`);
    empty when nobody is in the frame."""


class PersonMatte:
    """Per frame: ``matte(frame, motion, anchor, time)``; call ``reset`` at a new clip."""

    def __init__(self, segmenter: Segmenter, main_person_only: bool = True, steadiness: float = DEFAULT_STEADINESS,
                 max_side: int = DEFAULT_MAX_SIDE) -> None:
        self.segmenter = segmenter
        self.main_person_only = main_person_only
        self.steady = SteadyMatte(steadiness)
        self.max_side = max_side
        self.on_stage: Callable[[str, float], None] | None = None
        """Called with (stage, seconds) for each of :data:`STAGES` (``bench`` uses it)."""

    def reset(self) -> None:
        self.steady.reset()

    @contextlib.contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        if self.on_stage is not None:
            self.on_stage(name, time.perf_counter() - started)

    def __call__(self, frame_bgr: np.ndarray, motion: FlowPair | None, anchor: tuple[float, float] | None = None,
                 time_s: float | None = None, full_gray: torch.Tensor | None = None) -> Matte:
        """``motion`` must come from the same frame sequence (its small grid is reused as
        the refinement's guide); ``anchor`` is the main face's centre in frame pixels.
        ``full_gray``: the frame's gray levels on a device (:func:`matte.device.gray_levels`),
        where the refinement's full-size half then runs; the alpha stays there, a tensor."""
        h, w = frame_bgr.shape[:2]
        if motion is not None:
            small, factor = motion.gray, motion.factor
        else:
            factor = shrink_factor(h, w, self.max_side)
            small = small_gray(frame_bgr, factor)
        with self._stage("segment"):
            coarse = self.segmenter.segment(frame_bgr)
            coarse = cv2.resize(coarse, small.shape[::-1], interpolation=cv2.INTER_LINEAR)
        with self._stage("steady"):
            coarse = self.steady(coarse, motion, time_s)
            if self.main_person_only:
                sh, sw = small.shape
                coarse = main_person_only(coarse, None if anchor is None else (anchor[0] * sw / w, anchor[1] * sh / h))
        with self._stage("refine"):
            if full_gray is None:
                alpha = guided_alpha(decided(coarse), small, cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY))
            else:
                alpha = device.guided_alpha(decided(coarse), small, full_gray)
        return Matte(alpha, coarse, person_boxes(coarse, (h, w), BOX_PAD, BOX_SEAM_ROWS))
