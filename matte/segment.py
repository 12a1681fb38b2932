"""Person segmentation from MediaPipe's selfie models: a coarse "how much person" map.

The mediapipe 0.10.21 wheel ships two selfie segmentation models: the general one
(256x256 input) and the landscape one (144x256, 16:9, about a third faster). The
model whose input shape is nearer the frame's (in log aspect ratio) is used, so a
16:9 webcam is not squeezed into a square and a 4:3 or portrait frame is not
squeezed into 16:9.

The frame is shrunk to the model's long side before MediaPipe sees it: MediaPipe
returns its mask at the size it was given, and a full-size mask would cost a 720p
upsample here plus another one in the refinement, for no detail the model has.
Fine edges come later, from :mod:`matte.refine`, guided by the full-size frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from common.errors import LiveToonError

GENERAL, LANDSCAPE = 0, 1
"""MediaPipe's ``model_selection`` values."""
MODEL_ASPECT = {GENERAL: 1.0, LANDSCAPE: 256 / 144}
MODEL_LONG_SIDE = 256


class SegmentationModelError(LiveToonError):
    """MediaPipe's selfie segmentation model could not be loaded."""


def model_for(height: int, width: int) -> int:
    """The selfie model whose input aspect ratio is nearest the frame's (log distance);
    a portrait frame is nearer the square model than the landscape one."""
    aspect = width / max(1, height)
    return min(MODEL_ASPECT, key=lambda m: abs(math.log(aspect / MODEL_ASPECT[m])))


def model_input_size(height: int, width: int) -> tuple[int, int]:
    """(width, height) with the long side at the model's 256 and the frame's aspect kept."""
    scale = MODEL_LONG_SIDE / max(height, width)
    return max(8, round(width * scale)), max(8, round(height * scale))


class SelfieSegmenter:
    """MediaPipe selfie segmentation; the model is chosen (and reloaded) by frame shape.

    Process-wide settings it relies on are the program's (:mod:`app.process_setup`): glibc
    keeping freed memory (the refinement and compositing after segmentation make several
    full-size planes a frame; served by fresh mmaps they page-fault in each time: the
    matte's 720p refinement took 20 ms instead of 4) and MediaPipe's fd 2 chatter filtered.
    """

    def __init__(self) -> None:
        self._models: dict[int, object] = {}

    def _model(self, selection: int):
        model = self._models.get(selection)
        if model is None:
            try:
                import mediapipe as mp

                model = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=selection)
            except (ImportError, RuntimeError, FileNotFoundError) as exc:
                raise SegmentationModelError(
                    f"cannot load MediaPipe's selfie segmentation model ({exc}); run `livetoon doctor`") from exc
            self._models[selection] = model
        return model

    def segment(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Person probability, float32 in [0, 1], at the model's size (long side 256), frame aspect kept."""
        h, w = frame_bgr.shape[:2]
        small = cv2.resize(frame_bgr, model_input_size(h, w), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        mask = self._model(model_for(h, w)).process(rgb).segmentation_mask
        return np.clip(mask, 0.0, 1.0).astype(np.float32, copy=False)

    def close(self) -> None:
        for model in self._models.values():
            model.close()
        self._models.clear()

    def __enter__(self) -> SelfieSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
