"""Put a foreground over a background through an alpha, in uint8, at frame size.

Blends are two saturating uint8 products and an add, with the alpha made 3-channel
once: within one level of a float blend, and several times faster than float maps
at 720p (the compositing share of the 10 ms matte budget, docs/compositing.md).
"""

from __future__ import annotations

import cv2
import numpy as np

BLUR_SHRINK = 8
"""The blurred background is made at 1/8 size: a strong blur for a fraction of the work."""
BLUR_SIGMA = 3.0
"""Gaussian sigma on the 1/8 image (about 24 px at full size)."""


def over(foreground: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``foreground * a + background * (1 - a)`` for the uint8 HxW ``alpha`` (255 = foreground)."""
    weight = cv2.merge([alpha, alpha, alpha])
    kept = cv2.multiply(foreground, weight, scale=1.0 / 255.0)
    return cv2.add(kept, cv2.multiply(background, cv2.bitwise_not(weight), scale=1.0 / 255.0))


def mix_camera(cartoon: np.ndarray, camera: np.ndarray, strength: float, alpha: np.ndarray | None) -> np.ndarray:
    """The one meaning of *strength*: the camera picture mixed into the cartoon, by ``1 - strength``,
    only inside the person (``alpha``, uint8 HxW, 255 = person; None: the whole frame, as with
    background ``keep``, where there is no person/room split).

    Applied before the cartoon goes over the background, in every mode: the background stays
    exactly the chosen one, and outputs with alpha carry no camera pixel outside the person.
    """
    if strength >= 1.0:
        return cartoon
    if alpha is None:
        return cv2.addWeighted(cartoon, strength, camera, 1.0 - strength, 0.0)
    weight = alpha.astype(np.float32) * np.float32((1.0 - strength) / 255.0)
    mixed = cartoon.astype(np.float32)
    mixed += (camera.astype(np.float32) - mixed) * weight[..., None]
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def blurred_small(frame_bgr: np.ndarray) -> np.ndarray:
    """:func:`blurred` before it grows back: shrunk and blurred (the device path grows it there)."""
    h, w = frame_bgr.shape[:2]
    small = cv2.resize(frame_bgr, (max(1, w // BLUR_SHRINK), max(1, h // BLUR_SHRINK)), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA)


def blurred(frame_bgr: np.ndarray) -> np.ndarray:
    """A strongly blurred copy: shrink, blur, grow back."""
    h, w = frame_bgr.shape[:2]
    return cv2.resize(blurred_small(frame_bgr), (w, h), interpolation=cv2.INTER_LINEAR)


def cover(image_bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image_bgr`` scaled to fill ``height`` x ``width`` and centre-cropped (no bars, no stretch)."""
    h, w = image_bgr.shape[:2]
    if (h, w) == (height, width):
        return image_bgr
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image_bgr, (sw, sh), interpolation=interpolation)
    y0, x0 = (sh - height) // 2, (sw - width) // 2
    return np.ascontiguousarray(scaled[y0:y0 + height, x0:x0 + width])
