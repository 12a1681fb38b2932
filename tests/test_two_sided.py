"""The two-sided stabilizer of file conversion (flow.two_sided) on a real photo in motion.

It must be the symmetric filter the docs promise where the motion is trusted, hand
every frame back once and in order however the blocks fall, not depend on where a
block ends, and not carry a scene across a cut in either direction.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.stabilizer import LiveStabilizer
from flow.estimate import SequenceFlow
from flow.metrics import fidelity_psnr, warping_error
from flow.two_sided import FILE_STABILITY, TwoSidedStabilizer

from tests.test_flow import coffee_bgr, flickery_cartoon, panning  # noqa: F401 - coffee_bgr is a fixture


def two_sided(inputs: list[np.ndarray], styled: list[np.ndarray], **options) -> tuple[list, TwoSidedStabilizer]:
    """Outputs in the order handed back, as (payload, image), and the stabilizer."""
    stabilizer = TwoSidedStabilizer(**options)
    motion = SequenceFlow(both_ways=True)
    out = []
    for index, (image, cartoon) in enumerate(zip(inputs, styled)):
        out += stabilizer.push(motion(image), cartoon, None, index)
    return out + stabilizer.finish(), stabilizer


def causal(inputs: list[np.ndarray], styled: list[np.ndarray], stability: float) -> list[np.ndarray]:
    stabilizer = LiveStabilizer(stability)
    return [stabilizer(image, cartoon) for image, cartoon in zip(inputs, styled)]


@pytest.fixture(scope="module")
def clip(astronaut_bgr):
    inputs = panning(astronaut_bgr, 30)
    return inputs, flickery_cartoon(inputs)


def test_a_still_scene_gets_the_symmetric_filter(astronaut_bgr):
    """A camera that does not move (every pixel trusted, weight ``a`` both ways) and a
    cartoon whose brightness flickers: inside the clip each output is
    ``sum_k a^|k| Y(t+k)`` normalised, which no one-sided filter is."""
    a, frames = 0.65, 40
    still = cv2.resize(astronaut_bgr, (320, 180))
    offsets = np.random.default_rng(3).uniform(-30, 30, frames)
    styled = [np.clip(still.astype(np.float32) * 0.5 + 60 + o, 0, 255).astype(np.uint8) for o in offsets]
    out, _ = two_sided([still] * frames, styled, stability=a)
    t = frames // 2
    k = np.arange(frames) - t
    weights = a ** np.abs(k)
    expected = sum(w * y.astype(np.float64) for w, y in zip(weights, styled)) / weights.sum()
    assert np.abs(out[t][1] - expected).max() <= 2.0
    one_sided = causal([still] * frames, styled, a)[t]
    assert np.abs(one_sided - expected).mean() > 5.0, "the check tells the two filters apart"


def test_every_frame_comes_back_once_and_in_order(clip):
    inputs, styled = clip
    stabilizer = TwoSidedStabilizer(block=4, lookahead=3)
    motion = SequenceFlow(both_ways=True)
    handed: list[int] = []
    for index in range(21):
        ready = stabilizer.push(motion(inputs[index]), styled[index], None, index)
        handed += [payload for payload, _ in ready]
        assert len(handed) <= max(0, index + 1 - 3), "a frame came back before its future was seen"
    handed += [payload for payload, _ in stabilizer.finish()]
    assert handed == list(range(21))
    assert stabilizer.finish() == []


def test_where_a_block_ends_does_not_show(clip):
    """The backward walk is cut off LOOKAHEAD frames beyond each block; the whole clip in
    one walk is the exact filter."""
    inputs, styled = clip
    blocked, _ = two_sided(inputs, styled)
    whole, _ = two_sided(inputs, styled, block=len(inputs), lookahead=len(inputs))
    gaps = [cv2.absdiff(a, b) for (_, a), (_, b) in zip(blocked, whole)]
    assert max(int(g.max()) for g in gaps) <= 3
    assert np.mean([g.mean() for g in gaps]) < 0.1


def test_it_takes_out_more_flicker_than_the_live_stabilizer_at_equal_fidelity(clip):
    """Flicker can always be traded for fidelity with the stability: the two-sided filter
    must leave less flicker than a one-sided stability that gives up *more* fidelity."""
    inputs, styled = clip
    both = [image for _, image in two_sided(inputs, styled, stability=FILE_STABILITY)[0]]
    fidelity = fidelity_psnr(both, styled)
    one_sided = {s: causal(inputs, styled, s) for s in (0.7, 0.75, 0.8, 0.85)}
    rival = next(out for out in one_sided.values() if fidelity_psnr(out, styled) <= fidelity)
    assert warping_error(inputs, both) < 0.85 * warping_error(inputs, rival)


def test_a_scene_cut_is_crossed_in_neither_direction(astronaut_bgr, coffee_bgr):
    inputs = panning(astronaut_bgr, 6) + panning(coffee_bgr, 6, seed=1)
    styled = flickery_cartoon(inputs, seed=1)
    out, stabilizer = two_sided(inputs, styled)
    assert stabilizer.cuts == 1
    before, after = out[5][1], out[6][1]
    assert np.array_equal(before, causal(inputs, styled, FILE_STABILITY)[5]), "no coffee in the last astronaut frame"
    old_scene = cv2.absdiff(styled[5], styled[6]).mean()
    assert cv2.absdiff(after, styled[6]).mean() < 0.1 * old_scene, "no astronaut in the first coffee frame"
    assert not np.array_equal(after, styled[6]), "the new scene is stabilized from its first frame, by its future"


def test_stability_zero_hands_each_frame_straight_back(clip):
    inputs, styled = clip
    stabilizer = TwoSidedStabilizer(0.0)
    assert all(stabilizer.push(None, s, None, i) == [(i, s)] for i, s in enumerate(styled[:5]))
    assert stabilizer.finish() == []


def test_large_frames_are_held_in_shorter_blocks(clip, monkeypatch):
    """Frames are held until their future is seen; big frames (4K: 75 MB a held frame) must
    not pile up: the block shortens so the held frames stay near HELD_BYTES."""
    import flow.two_sided as two_sided_module

    inputs, styled = clip
    monkeypatch.setattr(two_sided_module, "HELD_BYTES", 20 * 3 * styled[0].nbytes)  # room for 20 frames
    stabilizer = TwoSidedStabilizer()
    motion = SequenceFlow(both_ways=True)
    most = 0
    for index, (image, cartoon) in enumerate(zip(inputs, styled)):
        stabilizer.push(motion(image), cartoon, None, index)
        most = max(most, stabilizer.held)
    assert most <= 20, most
    assert len(stabilizer.finish()) > 0


def test_full_stability_on_a_still_noiseless_picture_keeps_the_picture(astronaut_bgr):
    """Stability 1 where the flow is certain both ways (a screen recording, a still) makes
    both weights exactly 1: the blend's 0/0 must give the mean of the two directions, not
    NaN turned into black pixels."""
    still = cv2.resize(astronaut_bgr, (320, 180))
    styled = [still] * 30
    out, _ = two_sided([still] * 30, styled, stability=1.0)
    assert all(cv2.absdiff(image, still).max() <= 1 for _, image in out)
