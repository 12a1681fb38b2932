"""Our PyTorch TTN against LiteRT running the official graphs, for all seven styles.

The reference is the official graph itself (the shared ``.tflite`` files), run by
LiteRT on the same input; we apply the graph's own clip and truncating cast to its
float output and require <= 1 LSB everywhere and PSNR >= 55 dB, on a real photo at
the bg model's native 720x720 and on a real aligned face crop at 288x288.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dctnet.align import align_face
from faces.finder import FaceDetector
from dctnet.network import TTN, to_uint8
from dctnet.network import official_state_dict
from dctnet.tflite import read_tflite_tensors
from tests.conftest import REFERENCE_DIR, needs_reference

STYLES = ("3d", "anime", "artstyle", "design", "handdrawn", "illustration", "sketch")


def litert_uint8(model_path, image_bgr: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(model_path), num_threads=2)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image_bgr.astype(np.float32))
    interpreter.invoke()
    y = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    return ((np.clip(y, -0.999999, 0.999999) + 1.0) * 127.5).astype(np.uint8)


def ours_uint8(model_path, image_bgr: np.ndarray) -> np.ndarray:
    model = TTN()
    model.load_state_dict(official_state_dict(read_tflite_tensors(model_path.read_bytes()), "tflite"))
    with torch.inference_mode():
        y = model.eval()(torch.from_numpy(image_bgr).permute(2, 0, 1)[None].float())
    return to_uint8(y)[0].permute(1, 2, 0).numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def photo_720(astronaut_bgr) -> np.ndarray:
    return cv2.resize(astronaut_bgr, (720, 720), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def face_crop_288(astronaut_bgr) -> np.ndarray:
    with FaceDetector(static_image_mode=True) as detector:
        faces = detector.detect(astronaut_bgr)
    assert faces, "MediaPipe found no face in the astronaut portrait"
    crop, _ = align_face(astronaut_bgr, faces[0].points, 288)
    return crop


@needs_reference
@pytest.mark.parametrize("style", STYLES)
def test_port_matches_official_graphs(style, photo_720, face_crop_288):
    for part, image in (("bg", photo_720), ("head", face_crop_288)):
        path = REFERENCE_DIR / style / f"{part}.tflite"
        reference, ours = litert_uint8(path, image), ours_uint8(path, image)
        diff = np.abs(reference.astype(int) - ours.astype(int))
        assert diff.max() <= 1, f"{style}/{part}: max |diff| {diff.max()} > 1 LSB"
        assert psnr(reference, ours) >= 55.0, f"{style}/{part}: PSNR {psnr(reference, ours):.1f} dB < 55"
        # The stylization must actually change the photo, or the comparison proves nothing.
        assert psnr(image, ours) < 30.0
