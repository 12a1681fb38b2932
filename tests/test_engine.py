"""The Stylizer's pipeline rules: sizes, padding, modes, device choice, fp16 guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dctnet.device import choose_device
from dctnet.engine import Mode, Stylizer, processing_scale
from common.errors import LiveToonError
from faces.finder import FaceDetector
from dctnet.network import TTN
from tests.conftest import import_or_skip_unless_ci


def small_weights(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return TTN(8).state_dict()


@pytest.fixture(scope="module")
def faces(astronaut_bgr):
    import_or_skip_unless_ci("mediapipe", "MediaPipe is not installed (the numpy-2 GPU-image venv)")
    with FaceDetector(static_image_mode=True) as detector:
        return detector.detect(astronaut_bgr)


def test_processing_scale_caps_the_short_side():
    assert processing_scale(1080, 1920, 720) == pytest.approx(720 / 1080)
    assert processing_scale(480, 640, 720) == 1.0


@pytest.mark.parametrize("shape", [(333, 517), (720, 1280), (1080, 1440)])
def test_background_mode_keeps_size_and_pads_invisibly(shape):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    stylizer = Stylizer(small_weights(1), small_weights(2), device="cpu", mode="background")
    out = stylizer.stylize(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    if shape == (333, 517):  # the bg pass pads white to 16 and crops back: equal to padding by hand
        padded = np.full((336, 528, 3), 255, np.uint8)
        padded[:333, :517] = frame
        assert np.array_equal(out, stylizer.run_model("bg", padded[None])[0, :333, :517])


def test_face_mode_leaves_everything_but_the_face_untouched(astronaut_bgr, faces):
    stylizer = Stylizer(small_weights(1), small_weights(2), device="cpu", mode="face")
    out = stylizer.stylize(astronaut_bgr, faces)
    changed = np.any(out != astronaut_bgr, axis=2)
    assert changed[60:190, 160:280].mean() > 0.5
    assert not changed[300:].any() and not changed[:, :120].any()


def test_the_output_is_never_the_callers_own_frame(astronaut_bgr):
    """Face mode without a face changes nothing, yet the caller gets its own copy (the Ops
    contract): a camera may refill its buffer while the output is still being sent."""
    frame = astronaut_bgr.copy()
    out = Stylizer(small_weights(1), small_weights(2), device="cpu", mode="face").stylize(frame, [])
    assert np.array_equal(out, astronaut_bgr) and not np.shares_memory(out, frame)
    frame[:] = 0
    assert np.array_equal(out, astronaut_bgr)


def test_full_mode_without_faces_is_the_background_pass(astronaut_bgr):
    full = Stylizer(small_weights(1), small_weights(2), device="cpu", mode="full").stylize(astronaut_bgr, [])
    bg = Stylizer(small_weights(1), small_weights(2), device="cpu", mode="background").stylize(astronaut_bgr)
    assert np.array_equal(full, bg)


def test_faces_of_a_downscaled_frame_are_scaled_too(astronaut_bgr, faces):
    """A 1024 px frame is processed at 720: the head must still land on the face."""
    import cv2

    big = cv2.resize(astronaut_bgr, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    big_faces = [f.scaled(2.0) for f in faces]
    stylizer = Stylizer(small_weights(1), small_weights(2), device="cpu", mode="full")
    with_face = stylizer.stylize(big, big_faces)
    without = stylizer.stylize(big, [])
    changed = np.any(np.abs(with_face.astype(int) - without.astype(int)) > 8, axis=2)
    ys, xs = np.nonzero(changed)
    assert 300 < xs.mean() < 560 and 120 < ys.mean() < 380, (xs.mean(), ys.mean())


def test_fp16_non_finite_output_falls_back_to_fp32():
    weights = small_weights(3)
    weights["Conv_9.weight"] = weights["Conv_9.weight"] * 1e4  # overflows fp16, fine in fp32
    weights["Conv_8.weight"] = weights["Conv_8.weight"] * 1e3
    stylizer = Stylizer(weights, weights, device="cpu", mode="background")
    stylizer.dtype = torch.float16  # what a CUDA Stylizer starts with
    stylizer._models = {p: m.half() for p, m in stylizer._models.items()}
    frame = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = stylizer.stylize(frame)
    assert stylizer.dtype == torch.float32
    reference = Stylizer(weights, weights, device="cpu", mode="background").stylize(frame)
    assert np.array_equal(out, reference)


def test_device_choice_says_why_cuda_is_not_used():
    choice = choose_device("auto")
    if not torch.cuda.is_available():
        assert choice.device.type == "cpu" and choice.fallback_reason
        with pytest.raises(LiveToonError, match="cuda"):
            choose_device("cuda")
    assert choose_device("cpu").fallback_reason is None


def test_rejects_bad_frames():
    stylizer = Stylizer(small_weights(1), small_weights(2), device="cpu", mode=Mode.BACKGROUND)
    with pytest.raises(LiveToonError):
        stylizer.stylize(np.zeros((10, 10), np.uint8))


def test_replicate_and_context_padding_for_styles_that_ask_for_them():
    frame = np.random.default_rng(2).integers(0, 256, (100, 90, 3), dtype=np.uint8)
    stylizer = Stylizer(small_weights(1), small_weights(2), device="cpu", mode="background", padding="replicate")
    padded = np.pad(frame, ((0, 12), (0, 6), (0, 0)), mode="edge")
    assert np.array_equal(stylizer.stylize(frame), stylizer.run_model("bg", padded[None])[0, :100, :90])
    # LiveToon's trained styles: 8 replicated pixels of context on every side, then up to a multiple of 16.
    stylizer = Stylizer(small_weights(1), small_weights(2), device="cpu", mode="background", padding="context")
    padded = np.pad(frame, ((8, 8 + 12), (8, 8 + 6), (0, 0)), mode="edge")
    assert np.array_equal(stylizer.stylize(frame), stylizer.run_model("bg", padded[None])[0, 8:108, 8:98])
    with pytest.raises(LiveToonError):
        Stylizer(small_weights(1), small_weights(2), device="cpu", padding="mirror")


def test_both_frame_paths_keep_the_one_ops_contract():
    """FrameOps and TensorOps are the two implementations of Ops: same steps, same parameters."""
    import inspect

    from dctnet.frame_ops import FrameOps, Ops, TensorOps

    steps = {name: inspect.signature(member) for name, member in vars(Ops).items()
             if callable(member) and not name.startswith("_")}
    assert {"upload", "download", "background", "heads", "paste", "resize"} <= set(steps)
    for implementation in (FrameOps, TensorOps):
        for name, wanted in steps.items():
            got = inspect.signature(getattr(implementation, name))
            params = [p for p in got.parameters if p != "self"]
            assert params == [p for p in wanted.parameters if p != "self"], f"{implementation.__name__}.{name}{got}"


def test_box_windows_keep_the_frame_edge_where_they_reach_it():
    """The bg pass on the person's boxes: a window that reaches the padded frame's edge sits at
    the same edge of the one canvas the model runs on (so the model's own border stays
    there); two windows on the same side edge cannot share a canvas and run apart, nor
    two of very different heights."""
    from dctnet.crop_windows import CROP_HALO, OUTER_MARGIN, canvases, crop_windows
    from dctnet.frame_ops import frame_padding

    padding = frame_padding(720, 1280, "context")  # 8 px all round, then to 736x1296
    head, shoulders = crop_windows([(400, 0, 800, 360), (200, 360, 1280, 720)], (720, 1280), padding)
    assert (head.rows.start, head.rows.stop) == (0, 360 + 8 + CROP_HALO), "from the frame's top, past the seam"
    assert (shoulders.cols.start, shoulders.cols.stop) == (200 + 8 - OUTER_MARGIN, 1296), "to the padded right edge"
    [canvas] = canvases([head, shoulders], (736, 1296))
    first, last = canvas.places
    assert first.window is head and (first.row, first.col) == (0, 0)
    assert last.col + shoulders.width == canvas.size[1] and last.row + shoulders.height == canvas.size[0]
    on_left = crop_windows([(0, 0, 400, 360), (0, 360, 900, 720)], (720, 1280), padding)
    assert [len(c.places) for c in canvases(on_left, (736, 1296))] == [1, 1]
    unlike = crop_windows([(400, 0, 600, 700), (700, 100, 1200, 200)], (720, 1280), padding)
    assert [len(c.places) for c in canvases(unlike, (736, 1296))] == [1, 1], "a canvas mostly filler: two calls"
