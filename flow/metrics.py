"""Temporal-consistency metrics, shared by tests, ``eval-temporal`` and benchmarks.

Warping error after Lai et al. 2018 ("Learning Blind Video Temporal Consistency"):
for each t >= 1, warp output t-1 to frame t along the *input's* optical flow and take
the mean squared RGB difference (0..1 scale, summed over channels) over pixels that
are visible in both frames (forward-backward check); average over t; report x1000.
The flow here is a higher-quality DIS than the stabilizer's own, computed at up to
640 px, so a method is not judged by the flow it was built on.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from .estimate import FlowEstimator, small_gray, warp

METRIC_MAX_SIDE = 640


def visible_mask(backward: np.ndarray, forward_at_target: np.ndarray) -> np.ndarray:
    """Lai/Ruder occlusion test: |b + f'|^2 < 0.01 (|b|^2 + |f'|^2) + 0.5."""
    total = backward + forward_at_target
    lhs = (total**2).sum(axis=2)
    rhs = 0.01 * ((backward**2).sum(axis=2) + (forward_at_target**2).sum(axis=2)) + 0.5
    return lhs < rhs


def warping_errors(inputs: Iterable[np.ndarray], outputs: Iterable[np.ndarray]) -> list[float]:
    """Per-frame warping error (x1000) of ``outputs`` along the motion of ``inputs``."""
    flow = FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    errors: list[float] = []
    prev_gray = prev_out = None
    for frame_in, frame_out in zip(inputs, outputs):
        gray = small_gray(frame_in, METRIC_MAX_SIDE)
        out = cv2.resize(frame_out, gray.shape[::-1], interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        if prev_gray is not None and prev_gray.shape == gray.shape:
            backward = flow(gray, prev_gray)
            forward = flow(prev_gray, gray)
            mask = visible_mask(backward, warp(forward, backward))
            if mask.any():
                diff = ((out - warp(prev_out, backward)) ** 2).sum(axis=2)
                errors.append(1000.0 * float(diff[mask].mean()))
        prev_gray, prev_out = gray, out
    return errors


def warping_error(inputs: Iterable[np.ndarray], outputs: Iterable[np.ndarray]) -> float:
    errors = warping_errors(inputs, outputs)
    return float(np.mean(errors)) if errors else 0.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def fidelity_psnr(frames: Iterable[np.ndarray], references: Iterable[np.ndarray]) -> float:
    """Mean PSNR (dB) of frames against references, e.g. stabilized vs per-frame output."""
    scores = [psnr(a, b) for a, b in zip(frames, references)]
    finite = [s for s in scores if np.isfinite(s)]
    if not scores:
        return float("nan")
    return float(np.mean(finite)) if finite else float("inf")
