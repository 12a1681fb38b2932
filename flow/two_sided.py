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
``stability ** LOOKAHEAD`` (0.7^8 = 0.06, less after confidence), so outputs come
out ``BLOCK + LOOKAHEAD`` frames late and memory holds that many frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import cv2
import numpy as np

from .estimate import DEFAULT_MAX_SIDE, FlowPair
from .stabilize import Stabilizer

FILE_STABILITY = 0.65
"""The default for files. Looking both ways smooths more per unit of weight than the live
stabilizer's one way: at the live default (0.7) `bikes` fell just under 35 dB of fidelity
to the per-frame output (34.97 dB); at 0.65 it keeps 35.60 dB (docs/temporal.md)."""
BLOCK = 8
"""Frames finished per backward walk."""
LOOKAHEAD = 8
"""Future frames each walk starts from beyond its block."""

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

    def __init__(self, stability: float = FILE_STABILITY, max_side: int = DEFAULT_MAX_SIDE,
                 block: int = BLOCK, lookahead: int = LOOKAHEAD) -> None:
        self.causal = Stabilizer(stability, max_side)
        self.backward = Stabilizer(stability, max_side)
        self.block, self.lookahead = block, lookahead
        self._held: list[_Held[Payload]] = []

    @property
    def stability(self) -> float:
        return self.causal.stability

    @property
    def cuts(self) -> int:
        """Scene cuts the causal pass found (the backward one finds the same ones)."""
        return self.causal.cuts

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
        if len(self._held) < self.block + self.lookahead:
            return []
        return self._release(self.block)

    def finish(self) -> list[tuple[Payload, np.ndarray]]:
        """Every frame still held, now that no more will come."""
        return self._release(len(self._held))

    def _release(self, count: int) -> list[tuple[Payload, np.ndarray]]:
        """Walk the held frames back from the newest and finish the oldest ``count``."""
        backward: list[tuple[np.ndarray, np.ndarray | None]] = []
        self.backward.reset()
        following: _Held | None = None
        for held in reversed(self._held):
            pair = held.to_next if following is not None else None
            time = -held.time if held.time is not None else None
            backward.append(self.backward.weighted_step(pair, held.styled, time))
            following = held
        backward.reverse()
        done, self._held = self._held[:count], self._held[count:]
        return [(held.payload, two_sided_blend(held, *walked)) for held, walked in zip(done, backward)]


def two_sided_blend(held: _Held, backward: np.ndarray, backward_weight: np.ndarray | None) -> np.ndarray:
    """``((1-wb) F + (1-wf) B - (1-wf)(1-wb) Y) / (1 - wf wb)`` (the module's formula), uint8."""
    if held.causal_weight is None:
        return backward
    if backward_weight is None:
        return held.causal
    wf, wb = held.causal_weight, backward_weight
    norm = np.float32(1.0) / (np.float32(1.0) - wf * wb)
    causal_share, backward_share = (1.0 - wb) * norm, (1.0 - wf) * norm
    h, w = held.styled.shape[:2]
    shares = cv2.resize(np.dstack([causal_share, backward_share]), (w, h), interpolation=cv2.INTER_LINEAR)
    causal_share = cv2.merge([shares[:, :, 0]] * 3)
    backward_share = cv2.merge([shares[:, :, 1]] * 3)
    styled = held.styled.astype(np.float32)
    # F*cf + B*cb + Y*(1 - cf - cb), as Y + cf*(F - Y) + cb*(B - Y)
    out = styled + causal_share * (held.causal.astype(np.float32) - styled)
    out += backward_share * (backward.astype(np.float32) - styled)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
