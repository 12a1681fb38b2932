"""The matte's full-size refinement and the compositing on torch tensors, so a frame on the
GPU stays there from the model to the one download for the sinks.

The twin of the full-size halves of :mod:`matte.refine` and :mod:`matte.composite`, which
stay the reference (and the fastest on a CPU). Pictures are ``[1,3,H,W]`` float32 on the
uint8 grid and alphas ``[H,W]`` float32 levels 0..255, as :mod:`flow.device` keeps them.
What stays on the host, and why: the segmentation (MediaPipe), the matte's steadiness, the
main-person choice and the boxes all work on the flow's small grid (320x180 at 720p), where
the segmenter's output and the connected components already are; the guided filter's
coefficients are fitted there too (:func:`matte.refine.guided_coefficients`). Only what
scales with the frame runs here: the coefficients' resize and ``a * I + b``, the camera
mix, the backdrop's growing back and the ``over``. How close each is to OpenCV is said
where it is not exact (``tests/test_matte_device.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from flow.device import resize_float, resize_levels, weighted

from .composite import blurred_small
from .refine import guided_coefficients

GRAY_WEIGHTS = (3735, 19235, 9798)
"""B, G, R in 1/32768: ``cv2.cvtColor(..., COLOR_BGR2GRAY)``'s fixed point for uint8 (OpenCV 4's
``RGB2Gray<uchar>``; the 1/16384 weights of its documentation are a level off on some pixels)."""
GRAY_SHIFT = 15


def upload(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """An HxWx3 uint8 picture as ``[1,3,H,W]`` float32 on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float()


def gray_levels(image: torch.Tensor) -> torch.Tensor:
    """``cv2.cvtColor(image, COLOR_BGR2GRAY)`` of a ``[1,3,H,W]`` picture, bit for bit: ``[H,W]``."""
    b, g, r = image[0].to(torch.int32).unbind(0)
    wb, wg, wr = GRAY_WEIGHTS
    return ((b * wb + g * wg + r * wr + (1 << (GRAY_SHIFT - 1))) >> GRAY_SHIFT).to(torch.float32)


def guided_alpha(coarse: np.ndarray, small_gray: np.ndarray, full_gray: torch.Tensor) -> torch.Tensor:
    """:func:`matte.refine.guided_alpha` with its full-size half on ``full_gray``'s device.

    Within a level of the reference: ``cv2.resize`` takes another path for one-channel float
    maps than :func:`flow.device.resize_float` repeats, a float ulp apart, which now and then
    moves ``a * I + b`` across a rounding edge."""
    a_small, b_small = guided_coefficients(coarse, small_gray)
    height, width = full_gray.shape
    a_full, b_full = (resize_float(torch.from_numpy(plane).to(full_gray.device), height, width)
                      for plane in (a_small, b_small))
    return torch.round((full_gray * a_full + b_full).clamp_(min=0.0)).clamp_(max=255.0)


def over(foreground: torch.Tensor, background: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """:func:`matte.composite.over` (two rounded uint8 products and a saturating add), bit for bit."""
    return weighted(foreground, background, alpha)


def mix_camera(cartoon: torch.Tensor, camera: torch.Tensor, strength: float, alpha: torch.Tensor | None) -> torch.Tensor:
    """:func:`matte.composite.mix_camera` on the device: the same float32 steps, so the same
    values, but for ``cv2.addWeighted`` (no alpha), whose SIMD sum may round an exact half
    the other way: a level at most."""
    if strength >= 1.0:
        return cartoon
    if alpha is None:
        return torch.round(cartoon * strength + camera * (1.0 - strength)).clamp_(0.0, 255.0)
    weight = alpha * np.float32((1.0 - strength) / 255.0)
    return torch.round(cartoon + (camera - cartoon) * weight).clamp_(0.0, 255.0)


def blurred(camera_bgr: np.ndarray, device: torch.device) -> torch.Tensor:
    """:func:`matte.composite.blurred`: shrunk and blurred on the host (1/64 of the pixels),
    grown back on the device with OpenCV's fixed-point resize (bit for bit)."""
    h, w = camera_bgr.shape[:2]
    return resize_levels(upload(blurred_small(camera_bgr), device), h, w)
