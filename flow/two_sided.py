"""Two-sided stabilization for files: each output also sees the frames after it.

A live stabilizer (:mod:`flow.stabilize`) can only blend in the past: it is a
one-sided (causal) recursive filter, which lags. A file converter has the future
too. Run the same recursion backwards in time as well and each frame gets three
estimates: its own per-frame output ``Y``, the past carried to it (``P``, inside the
causal result ``F = (1-wf) Y + wf P``) and the future carried to it (``N``, inside
the backward result ``B = (1-wb) Y + wb N``). Weighting them as the two recursions
do gives

    X = ((1-wf)(1-wb) Y + wf(1-wb) P + wb(1-wf) N) / (1 - wf wb)
      = ((1-wb) F + (1-wf) B - (1-wf)(1-wb) Y) / (1 - wf wb)

which for a constant weight ``a`` is the symmetric filter ``sum_k a^|k| Y_(t+k)``
(normalised): the smoother with least lag for its flicker. Where either direction
is not trusted (occlusion, a cut) it falls back to the other one alone: ``wf = 0``
gives ``B``, ``wb = 0`` gives ``F``. On the recorded clips of ``docs/temporal.md``
it takes out more flicker at the same fidelity to the per-frame output than the
causal filter does.

The backward recursion runs over blocks of :data:`BLOCK` frames, each started
:data:`LOOKAHEAD` frames later and walked back; the truncated tail weighs at most
``stability ** LOOKAHEAD`` (0.65^8 = 0.03, less after confidence), so outputs come
out ``BLOCK + LOOKAHEAD`` frames late and memory holds that many frames (each with
its camera picture, cartoon and one-sided result: 0.45 GB at 1080p). Larger frames
get shorter blocks, so what is held stays near :data:`HELD_BYTES`: more backward
steps per frame, the same lookahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import cv2
import numpy as np

from .estimate import FlowPair
from .stabilize import Stabilizer

FILE_STABILITY = 0.65
"""The default for files. Looking both ways smooths more per unit of weight than the live
stabilizer's one way: at the live default (0.7) `bikes` fell just under 35 dB of fidelity
to the per-frame output (34.97 dB); at 0.65 it keeps 35.60 dB (docs/temporal.md)."""
BLOCK = 16
"""Frames finished per backward walk."""
LOOKAHEAD = 8
"""Future frames each walk starts from beyond its block."""
MIN_BLOCK = 4
HELD_BYTES = 512 << 20
"""Memory the held frames may take (three images each) before blocks shorten, down to :data:`MIN_BLOCK`."""

Payload = TypeVar("Payload")


@dataclass
class _Held(Generic[Payload]):
    """A frame waiting for its future: what the two-sided blend needs of it."""

    payload: Payload
    styled: np.ndarray
    causal: np.ndarray
    causal_weight: np.ndarray | None
    time: float | None
    to_next: FlowPair | None = None
    """Motion to the next frame with time reversed (this frame as the current one), once it is known."""


class TwoSidedStabilizer(Generic[Payload]):
    """Feed it every frame's motion, per-frame output and time in order, with anything to
    carry along (``payload``); it hands back ``(payload, output)`` in order, a block at a
    time, and the rest at :meth:`finish`.

    ``pair`` must carry the forward flow too (``SequenceFlow(both_ways=True)``).
    """

    def __init__(self, stability: float = FILE_STABILITY, block: int = BLOCK, lookahead: int = LOOKAHEAD) -> None:
        self.causal = Stabilizer(stability)
        self.backward = Stabilizer(stability)
        self.block, self.lookahead = block, lookahead
        self._held: list[_Held[Payload]] = []

    @property
    def stability(self) -> float:
        return self.causal.stability

    @property
    def cuts(self) -> int:
        """Scene cuts the causal pass found (the backward one finds the same ones)."""
        return self.causal.cuts

    @property
    def held(self) -> int:
        """Frames waiting for their future."""
        return len(self._held)

    def reset(self) -> None:
        """New clip: frames still held are dropped (:meth:`finish` first to keep them)."""
        self.causal.reset()
        self.backward.reset()
        self._held.clear()

    def push(self, pair: FlowPair | None, styled_bgr: np.ndarray, time: float | None,
             payload: Payload) -> list[tuple[Payload, np.ndarray]]:
        if self.stability == 0.0:
            return [(payload, styled_bgr)]
        causal, weight = self.causal.weighted_step(pair, styled_bgr, time)
        if self._held and pair is not None:
            self._held[-1].to_next = pair.reversed()
        self._held.append(_Held(payload, styled_bgr, causal, weight, time))
        block = self.block_for(styled_bgr.nbytes)
        if len(self._held) < block + self.lookahead:
            return []
        return self._release(len(self._held) - self.lookahead)

    def block_for(self, image_bytes: int) -> int:
        """Frames per walk for images of ``image_bytes``: :attr:`block`, shortened so the held
        frames stay near :data:`HELD_BYTES` (4K: 4 frames a walk, 12 held, 0.9 GB)."""
        fits = HELD_BYTES // (3 * image_bytes) - self.lookahead
        return max(MIN_BLOCK, min(self.block, fits))

    def finish(self) -> list[tuple[Payload, np.ndarray]]:
        """Every frame still held, now that no more will come."""
        return self._release(len(self._held))

    def _release(self, count: int) -> list[tuple[Payload, np.ndarray]]:
        """Walk the held frames back from the newest and finish the oldest ``count``."""
        backward: list[tuple[np.ndarray, np.ndarray | None]] = []
        self.backward.reset()
        for steps, held in enumerate(reversed(self._held)):
            pair = held.to_next if steps else None  # the newest frame starts the walk: no future
            time = -held.time if held.time is not None else None  # time runs backwards
            backward.append(self.backward.weighted_step(pair, held.styled, time))
        backward.reverse()
        done, self._held = self._held[:count], self._held[count:]
        return [(held.payload, two_sided_blend(held, *walked)) for held, walked in zip(done, backward)]


SINGULAR = np.float32(1e-4)
"""``1 - wf wb`` below this is taken as both directions fully trusted."""
SHARE_SCALE = 127
"""Fixed-point scale of the blend's shares. Each share is at most 1 and two sum to at most
2, so two 8-bit products and their sum fit 16 bits (2 * 255 * 127 < 65536)."""


def two_sided_blend(held: _Held, backward: np.ndarray, backward_weight: np.ndarray | None) -> np.ndarray:
    """``((1-wb) F + (1-wf) B - (1-wf)(1-wb) Y) / (1 - wf wb)`` (the module's formula), uint8.

    As ``cf F + cb B - (cf + cb - 1) Y`` with shares ``cf = (1-wb)/(1-wf wb)`` and
    ``cb = (1-wf)/(1-wf wb)``, in 16-bit fixed point: float arithmetic on three full-size
    frames cost more than both recursions together.
    """
    if held.causal_weight is None:
        return backward
    if backward_weight is None:
        return held.causal
    wf, wb = held.causal_weight, backward_weight
    denominator = np.float32(1.0) - wf * wb
    # Both weights 1 (stability 1 on a still, noiseless picture) is 0/0; the limit there
    # is the mean of the two directions.
    both_certain = denominator < SINGULAR
    norm = np.float32(SHARE_SCALE) / np.maximum(denominator, SINGULAR)
    h, w = held.styled.shape[:2]

    def full_size(share: np.ndarray) -> np.ndarray:
        small = np.rint(np.where(both_certain, SHARE_SCALE / 2, share * norm)).astype(np.uint8)
        return cv2.resize(cv2.merge([small] * 3), (w, h), interpolation=cv2.INTER_LINEAR)

    causal_share, backward_share = full_size(1.0 - wb), full_size(1.0 - wf)
    styled_share = cv2.subtract(cv2.add(causal_share, backward_share), SHARE_SCALE)
    total = cv2.add(cv2.multiply(held.causal, causal_share, dtype=cv2.CV_16U),
                    cv2.multiply(backward, backward_share, dtype=cv2.CV_16U))
    total = cv2.subtract(total, cv2.multiply(held.styled, styled_share, dtype=cv2.CV_16U))
    return cv2.convertScaleAbs(total, alpha=1.0 / SHARE_SCALE)
