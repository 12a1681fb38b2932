"""Temporal-consistency metrics, shared by tests, ``eval-temporal`` and benchmarks.

Warping error after Lai et al. 2018 ("Learning Blind Video Temporal Consistency"):
for each t >= 1, warp output t-1 to frame t along the *input's* optical flow and take
the mean squared difference (RGB in 0..1, averaged over pixels and channels) over
pixels visible in both frames (forward-backward check); average over t; report x1000.
Scene cuts are left out: where the *input* itself is not predicted by its warped
previous frame (its own warping error above :data:`CUT_INPUT_ERROR`), the flow
relates two unrelated pictures, and any output, however steady, scores tens of
times its usual error there (bikes.mp4: 4 cut frames were half the per-frame
output's total).

The flow here is DIS's MEDIUM preset at full resolution up to 960 px and at half (or
less) above, not the stabilizer's fast flow, so a method is not judged by the flow it
was built on. Both metrics stream over the frames: memory holds one pair at a time.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from .estimate import Flow, FlowEstimator, SequenceFlow, pull, sampling_grid, upsample_flow

METRIC_MAX_SIDE = 960
CUT_INPUT_ERROR = 10.0
"""Input warping error (x1000; an RMS difference of 0.1, 25 levels) above which a frame
is a scene cut. Within the shots of the real clips in docs/temporal.md the input's
own error stays below 1.3; across their cuts it is 13 to 62."""


def visible_mask(backward: np.ndarray, forward_at_target: np.ndarray) -> np.ndarray:
    """Lai/Ruder occlusion test, in pixels: |b + f'|^2 < 0.01 (|b|^2 + |f'|^2) + 0.5."""
    total = backward + forward_at_target
    lhs = (total**2).sum(axis=2)
    rhs = 0.01 * ((backward**2).sum(axis=2) + (forward_at_target**2).sum(axis=2)) + 0.5
    return lhs < rhs


def warping_errors(inputs: Iterable[np.ndarray], outputs: Iterable[np.ndarray],
                   max_side: int = METRIC_MAX_SIDE, flow: Flow | None = None) -> list[float]:
    """Per-frame warping error (x1000) of ``outputs`` along the motion of ``inputs``.

    Stops at the shorter sequence (a partial conversion is still measurable). Frames
    with no visible pixel, scene cuts, the first one and those after a size change
    contribute none. ``flow`` replaces the metric's DIS flow, to check that a method
    is steadier along another flow too, not only along the one it is judged by.
    """
    motion = SequenceFlow(max_side, flow or FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM))
    errors: list[float] = []
    prev_in: np.ndarray | None = None
    prev_out: np.ndarray | None = None
    for frame_in, frame_out in zip(inputs, outputs):
        out = frame_out.astype(np.float32) * np.float32(1.0 / 255.0)
        image = frame_in.astype(np.float32) * np.float32(1.0 / 255.0)
        pair = motion(frame_in)
        if pair is not None and prev_out is not None and prev_out.shape == out.shape:
            h, w = out.shape[:2]
            backward = upsample_flow(pair.backward, h, w)
            coords = sampling_grid(h, w) + backward
            forward_there = pull(upsample_flow(pair.forward, h, w), coords)
            mask = visible_mask(backward, forward_there)
            if mask.any() and masked_error(image, pull(prev_in, coords), mask) <= CUT_INPUT_ERROR:
                errors.append(masked_error(out, pull(prev_out, coords), mask))
        prev_in, prev_out = image, out
    return errors


def masked_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared difference x1000 over the pixels of ``mask`` (images in 0..1)."""
    return 1000.0 * float(np.mean((a[mask] - b[mask]) ** 2))


def warping_error(inputs: Iterable[np.ndarray], outputs: Iterable[np.ndarray],
                  max_side: int = METRIC_MAX_SIDE, flow: Flow | None = None) -> float:
    """Mean of :func:`warping_errors` (x1000; lower is steadier), 0 for fewer than two frames."""
    errors = warping_errors(inputs, outputs, max_side, flow)
    return float(np.mean(errors)) if errors else 0.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images; ``inf`` when they are identical."""
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def fidelity_psnr(a_frames: Iterable[np.ndarray], b_frames: Iterable[np.ndarray]) -> float:
    """Mean PSNR (dB) over frames, e.g. stabilized vs per-frame output.

    Identical frames (infinite PSNR, such as the first frame a stabilizer passes
    through) are left out of the mean, or one of them would make it infinite; the
    result is ``inf`` only when every frame is identical, ``nan`` for no frames.
    """
    scores = [psnr(a, b) for a, b in zip(a_frames, b_frames)]
    finite = [s for s in scores if np.isfinite(s)]
    if not scores:
        return float("nan")
    return float(np.mean(finite)) if finite else float("inf")
