"""The Stylizer: the official DCT-Net image pipeline around two TTN models.

Per frame (``full`` mode, as the official ``run.py``): cap the short side at 720,
pad with white to a multiple of 16, run the background model on the whole frame,
align each face to a 288x288 crop, run the head model on the crops in one batch,
warp the results back with the soft head mask, and resize to the input size.

``face`` mode pastes only the main face's cartoon onto the untouched original (at
full resolution, so the rest of the frame stays bit-exact); ``background`` mode is
the background pass alone and needs no faces.

Models are loaded once per Stylizer. On CUDA they run in fp16; a non-finite output
switches that Stylizer to fp32 for good (some GPUs produce NaNs in fp16 and users
see flashing faces otherwise).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from .align import CROP_SIZE, align_face, head_mask, paste_back
from .device import DeviceChoice, choose_device
from .errors import LiveToonError
from .face import Face
from .network import TTN, to_uint8
from .styles import Style

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 720
"""The official rule: frames whose short side exceeds this are processed smaller."""
PAD_MULTIPLE = 16
PADDINGS = ("white", "replicate")
"""How the bg pass fills the frame up to a multiple of 16: the official pipeline pads
white; styles trained with edge-drawing teachers ask for ``replicate`` (their style
metadata says so), or the white border would be outlined along the bottom/right edge."""


class Mode(str, enum.Enum):
    FULL = "full"
    FACE = "face"
    BACKGROUND = "background"

    @property
    def needs_faces(self) -> bool:
        return self is not Mode.BACKGROUND


def processing_scale(height: int, width: int, max_size: int) -> float:
    """Scale that brings the short side down to ``max_size`` (never up)."""
    short = min(height, width)
    return max_size / short if short > max_size else 1.0


def build_model(state_dict: dict[str, torch.Tensor], choice: DeviceChoice, dtype: torch.dtype) -> TTN:
    channels = state_dict["Conv.weight"].shape[0]
    model = TTN(channels)
    model.load_state_dict(state_dict)
    model = model.to(device=choice.device, dtype=dtype).eval()
    return model.to(memory_format=torch.channels_last)


class Stylizer:
    """Cartoonize BGR frames with one style (a head and a background TTN)."""

    def __init__(
        self,
        head: dict[str, torch.Tensor],
        bg: dict[str, torch.Tensor],
        device: str | DeviceChoice = "auto",
        mode: Mode | str = Mode.FULL,
        max_size: int = DEFAULT_MAX_SIZE,
        padding: str = "white",
    ) -> None:
        self.choice = device if isinstance(device, DeviceChoice) else choose_device(device)
        self.mode = Mode(mode)
        if max_size < PAD_MULTIPLE:
            raise LiveToonError(f"processing size must be at least {PAD_MULTIPLE} px, got {max_size}")
        self.max_size = max_size
        if padding not in PADDINGS:
            raise LiveToonError(f"unknown padding {padding!r}; expected one of {', '.join(PADDINGS)}")
        self.padding = padding
        self._weights = {"head": head, "bg": bg}
        self.dtype = torch.float16 if self.choice.is_cuda else torch.float32
        self._models = {part: build_model(sd, self.choice, self.dtype) for part, sd in self._weights.items()}
        self._mask = head_mask(CROP_SIZE)

    @classmethod
    def from_style(cls, style: Style, **options) -> Stylizer:
        """A Stylizer for a registered style, honouring its metadata (padding)."""
        head, bg, meta = style.load()
        return cls(head, bg, padding=meta.get("padding", "white"), **options)

    # -- model passes -------------------------------------------------------------
    def _fall_back_to_fp32(self) -> None:
        log.warning("fp16 produced non-finite values on %s; using fp32 from now on", self.choice.name)
        self.dtype = torch.float32
        self._models = {part: build_model(sd, self.choice, self.dtype) for part, sd in self._weights.items()}

    @torch.inference_mode()
    def run_model(self, part: str, images: np.ndarray) -> np.ndarray:
        """Run ``head`` or ``bg`` on a batch of uint8 BGR images ``[N,H,W,3]`` -> uint8."""
        batch = torch.from_numpy(np.ascontiguousarray(images)).to(self.choice.device)
        x = batch.permute(0, 3, 1, 2).to(self.dtype).contiguous(memory_format=torch.channels_last)
        y = self._models[part](x)
        if self.dtype == torch.float16 and not torch.isfinite(y).all():
            self._fall_back_to_fp32()
            y = self._models[part](x.float())
        return to_uint8(y.float()).permute(0, 2, 3, 1).cpu().numpy()

    def background_pass(self, frame: np.ndarray) -> np.ndarray:
        """The bg model on the whole frame, padded bottom/right to a multiple of 16."""
        h, w = frame.shape[:2]
        pad_h, pad_w = -h % PAD_MULTIPLE, -w % PAD_MULTIPLE
        if pad_h or pad_w:
            border = cv2.BORDER_REPLICATE if self.padding == "replicate" else cv2.BORDER_CONSTANT
            frame = cv2.copyMakeBorder(frame, 0, pad_h, 0, pad_w, border, value=(255, 255, 255))
        return self.run_model("bg", frame[None])[0, :h, :w]

    def head_pass(self, frame: np.ndarray, faces: Sequence[Face]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Aligned crops through the head model in one batch; returns (cartoon, M) pairs."""
        crops, transforms = zip(*(align_face(frame, face.points, CROP_SIZE) for face in faces))
        heads = self.run_model("head", np.stack(crops))
        return list(zip(heads, transforms))

    # -- the pipeline --------------------------------------------------------------
    def stylize(self, frame_bgr: np.ndarray, faces: Sequence[Face] = ()) -> np.ndarray:
        """Cartoonize one frame; ``faces`` are in the frame's pixel coordinates.

        In ``face`` mode only ``faces[0]`` is used: callers put the main face first.
        """
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise LiveToonError(f"expected a uint8 HxWx3 BGR frame, got {frame_bgr.dtype} {frame_bgr.shape}")
        if self.mode is Mode.FACE:
            return self._paste_heads(frame_bgr, list(faces[:1]))
        h, w = frame_bgr.shape[:2]
        scale = processing_scale(h, w, self.max_size)
        work = frame_bgr
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            work = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
        out = self.background_pass(work)
        if self.mode is Mode.FULL and faces:
            out = self._paste_heads(out, [face.scaled(scale) for face in faces], source=work)
        if out.shape[:2] != (h, w):
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
        return out

    def _paste_heads(self, canvas: np.ndarray, faces: list[Face], source: np.ndarray | None = None) -> np.ndarray:
        """Head pass on ``source`` (default: ``canvas``), blended onto ``canvas`` face by face."""
        if not faces:
            return canvas
        out = canvas
        for head, matrix in self.head_pass(canvas if source is None else source, faces):
            out = paste_back(out, head, matrix, self._mask)
        return out
