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

Two implementations of the same steps, chosen by device: :class:`FrameOps` works on
numpy frames with OpenCV (the reference, and the fastest on a CPU), and
:class:`TensorOps` keeps a frame on the GPU from one uint8 upload to one uint8
download, doing the crop and paste-back warps with ``grid_sample`` where OpenCV
would, so a GPU frame never makes a round trip through host memory. ``on_stage``
hears how long the bg pass, the head pass and the blend took (``bench`` uses it).
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .align import CROP_SIZE, REFERENCE_POINTS, align_face, crop_footprint, head_mask, paste_back, similarity_transform
from .cuda_graphs import GraphedModel
from .device import DeviceChoice, choose_device
from .errors import LiveToonError
from .face import Face
from .network import TTN, to_uint8
from .styles import Style, StylePart

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 720
"""The official rule: frames whose short side exceeds this are processed smaller."""
PAD_MULTIPLE = 16
PADDINGS = ("white", "replicate", "context")
"""How the bg pass fills the frame up to a multiple of 16 (the style's metadata says
which): the official pipeline pads white at the bottom/right; the toon renderer
replicates the edge there (a white pad would be outlined); styles trained by LiveToon
take ``context``: the edge replicated by CONTEXT_MARGIN pixels on every side too."""
CONTEXT_MARGIN = 8
"""LiveToon's trainer never scores a crop's outer pixels, so its students are unsure at
an image edge; 8 replicated pixels on every side move that edge out of the picture
(held-out PSNR to the teacher: coffee 28.5 -> 29.5 dB, two_people 30.9 -> 32.8 dB)
for 3.5% more work at 720p."""
WHITE = 255.0
STAGES = ("bg pass", "head pass", "blend")
"""What ``on_stage`` reports, each at most once per frame."""
StageHook = Callable[[str, float], None]
Frame = np.ndarray | torch.Tensor
"""A frame inside the Stylizer: numpy HxWx3 uint8 (:class:`FrameOps`) or a device tensor (:class:`TensorOps`)."""
GLIBC_M_TRIM_THRESHOLD = -1
GLIBC_M_MMAP_MAX = -4
HEAP_KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Make glibc keep big freed blocks for the next frame instead of unmapping them.

    A frame allocates the same few 16-120 MB activations every time. glibc serves
    blocks that large with a fresh ``mmap`` and unmaps them on ``free``, so every
    frame page-faults its whole working set back in: on a 2-core CPU that was a third
    of the bg model's time at 720x720 (LiteRT avoids it with a preallocated arena).
    Serving them from the heap, and not trimming it, keeps one frame's peak resident,
    which is what the next frame needs anyway. Process-wide and idempotent; a no-op
    (False) off glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(GLIBC_M_MMAP_MAX, 0) and libc.mallopt(GLIBC_M_TRIM_THRESHOLD, HEAP_KEEP_BYTES))
    except (OSError, AttributeError):  # not glibc (musl, ...): keep the allocator's defaults
        return False


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


def build_model(part: StylePart, choice: DeviceChoice, dtype: torch.dtype) -> torch.nn.Module:
    """A TTN with the part's weights, or the part itself when it is a ready module."""
    if isinstance(part, torch.nn.Module):
        model = part
    else:
        model = TTN(part["Conv.weight"].shape[0])
        model.load_state_dict(part)
    model = model.to(device=choice.device, dtype=dtype).eval()
    return model.to(memory_format=torch.channels_last)


def frame_padding(height: int, width: int, padding: str) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) pixels that bring a frame to the bg pass's size."""
    margin = CONTEXT_MARGIN if padding == "context" else 0
    return (margin, margin + -(height + 2 * margin) % PAD_MULTIPLE,
            margin, margin + -(width + 2 * margin) % PAD_MULTIPLE)


def pad_frame(image: np.ndarray, padding: str) -> tuple[np.ndarray, tuple[int, int]]:
    """The frame as the bg pass takes it, and where the picture starts (row, column) in it."""
    top, bottom, left, right = frame_padding(*image.shape[:2], padding)
    border = cv2.BORDER_CONSTANT if padding == "white" else cv2.BORDER_REPLICATE
    return cv2.copyMakeBorder(image, top, bottom, left, right, border, value=(WHITE,) * 3), (top, left)


# -- the GPU's warps ------------------------------------------------------------------
def _pixel_to_normalized(height: int, width: int) -> np.ndarray:
    """grid_sample's coordinates (align_corners=False) from pixel centres at integers."""
    return np.array([[2.0 / width, 0.0, 1.0 / width - 1.0], [0.0, 2.0 / height, 1.0 / height - 1.0], [0.0, 0.0, 1.0]])


def affine_theta(to_source: np.ndarray, source_hw: tuple[int, int], size_hw: tuple[int, int]) -> np.ndarray:
    """``affine_grid``'s theta for sampling the source at ``to_source @ (x, y, 1)``.

    ``to_source`` maps output pixels to source pixels, as ``cv2.warpAffine`` with
    ``WARP_INVERSE_MAP`` takes it; the result is that map in normalised coordinates.
    """
    square = np.vstack([to_source, [0.0, 0.0, 1.0]])
    return (_pixel_to_normalized(*source_hw) @ square @ np.linalg.inv(_pixel_to_normalized(*size_hw)))[:2]


def warp(images: torch.Tensor, to_source: np.ndarray, size_hw: tuple[int, int], fill: float) -> torch.Tensor:
    """Bilinear ``cv2.warpAffine`` (inverse map, constant border ``fill``) of a ``[N,C,H,W]`` batch.

    The grid is float32 whatever the images are: in fp16 the coordinates of a 1280 px
    frame would be off by up to half a pixel.
    """
    images = images.float()
    theta = torch.as_tensor(affine_theta(to_source, images.shape[-2:], size_hw), dtype=torch.float32, device=images.device)
    grid = F.affine_grid(theta.expand(images.shape[0], 2, 3), [images.shape[0], images.shape[1], *size_hw], align_corners=False)
    return F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


class FrameOps:
    """The steps on numpy uint8 HxWx3 frames with OpenCV: the reference path."""

    def __init__(self, stylizer: Stylizer) -> None:
        self.stylizer = stylizer

    def upload(self, image: np.ndarray) -> np.ndarray:
        return image

    def download(self, image: np.ndarray) -> np.ndarray:
        return image

    @staticmethod
    def size(image: np.ndarray) -> tuple[int, int]:
        return image.shape[:2]

    def background(self, image: np.ndarray) -> np.ndarray:
        """The bg model on the whole frame, padded to a multiple of 16 (see PADDINGS)."""
        h, w = image.shape[:2]
        padded, (top, left) = pad_frame(image, self.stylizer.padding)
        return self.stylizer.run_model("bg", padded[None])[0, top:top + h, left:left + w]

    def heads(self, image: np.ndarray, faces: list[Face]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Aligned crops through the head model in one batch; returns (cartoons, crop matrices)."""
        crops, matrices = zip(*(align_face(image, face.points, CROP_SIZE) for face in faces))
        return self.stylizer.run_model("head", np.stack(crops)), list(matrices)

    def paste(self, canvas: np.ndarray, head: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        return paste_back(canvas, head, matrix, head_mask(CROP_SIZE))

    @staticmethod
    def resize(image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
        return cv2.resize(image, size_hw[::-1], interpolation=cv2.INTER_LINEAR)


class TensorOps:
    """The same steps on ``[1,3,H,W]`` float32 tensors that stay on the device.

    Values are kept on the uint8 grid after every step (the crop, the model output,
    the warped head, the blend) exactly where the OpenCV path rounds, so both paths
    feed the models the same kind of input.
    """

    def __init__(self, stylizer: Stylizer) -> None:
        self.stylizer = stylizer
        self.device = stylizer.choice.device
        self._staging: dict[str, torch.Tensor] = {}
        self._mask = torch.from_numpy(np.array(head_mask(CROP_SIZE)))[None, None].to(self.device)

    def _host_buffer(self, direction: str, shape: tuple[int, ...]) -> torch.Tensor:
        """A page-locked buffer per direction, reused while the frame size stays: pinning is slow."""
        buffer = self._staging.get(direction)
        if buffer is None or tuple(buffer.shape) != shape:
            buffer = torch.empty(shape, dtype=torch.uint8, pin_memory=self.device.type == "cuda")
            self._staging[direction] = buffer
        return buffer

    def upload(self, image: np.ndarray) -> torch.Tensor:
        host = self._host_buffer("in", image.shape)
        host.numpy()[...] = image
        return host.to(self.device, non_blocking=True).permute(2, 0, 1)[None].float()

    def download(self, image: torch.Tensor) -> np.ndarray:
        pixels = image[0].permute(1, 2, 0).to(torch.uint8).contiguous()  # HWC, as numpy wants it
        host = self._host_buffer("out", tuple(pixels.shape))
        host.copy_(pixels, non_blocking=True)
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()
        return host.numpy().copy()  # the staging buffer is reused by the next frame

    @staticmethod
    def size(image: torch.Tensor) -> tuple[int, int]:
        return tuple(image.shape[-2:])

    def background(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        top, bottom, left, right = frame_padding(h, w, self.stylizer.padding)
        if self.stylizer.padding == "white":
            padded = F.pad(image, (left, right, top, bottom), value=WHITE)
        else:
            padded = F.pad(image, (left, right, top, bottom), mode="replicate")
        return self.stylizer.infer("bg", padded)[..., top:top + h, left:left + w].float()

    def heads(self, image: torch.Tensor, faces: list[Face]) -> tuple[torch.Tensor, list[np.ndarray]]:
        """As :func:`align_face` (same matrix, white border, rounded crop), then the head model."""
        matrices = [similarity_transform(face.points, REFERENCE_POINTS) for face in faces]
        crops = [warp(image, cv2.invertAffineTransform(m), (CROP_SIZE, CROP_SIZE), WHITE) for m in matrices]
        return self.stylizer.infer("head", torch.cat(crops).round()).float(), matrices

    def paste(self, canvas: torch.Tensor, head: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
        """``m*head + (1-m)*canvas`` over the crop's footprint, in place, as :func:`paste_back`."""
        box = crop_footprint(matrix, CROP_SIZE, self.size(canvas))
        if box is None:
            return canvas
        x0, y0, x1, y1 = box
        to_crop = matrix.copy()
        to_crop[:, 2] += matrix[:, :2] @ (x0, y0)  # the box's own pixel grid -> crop pixels
        warped = warp(torch.cat([head[None], self._mask], dim=1), to_crop, (y1 - y0, x1 - x0), 0.0)
        face, alpha = warped[:, :3].round(), warped[:, 3:]
        region = canvas[..., y0:y1, x0:x1]
        region.copy_((alpha * face + (1.0 - alpha) * region + 0.5).floor().clamp(0, 255))
        return canvas

    @staticmethod
    def resize(image: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(image, size=size_hw, mode="bilinear", align_corners=False).round().clamp(0, 255)


class Stylizer:
    """Cartoonize BGR frames with one style (a head and a background TTN)."""

    def __init__(
        self,
        head: StylePart,
        bg: StylePart,
        device: str | DeviceChoice = "auto",
        mode: Mode | str = Mode.FULL,
        max_size: int = DEFAULT_MAX_SIZE,
        padding: str = "white",
        cuda_graphs: bool = True,
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
        self.cuda_graphs = cuda_graphs and self.choice.is_cuda
        if self.choice.is_cuda:
            torch.backends.cudnn.benchmark = True  # frame sizes repeat: pick the fastest kernels once
        else:
            keep_freed_memory()
        self._models = self._build_models()
        self.ops: FrameOps | TensorOps = TensorOps(self) if self.choice.is_cuda else FrameOps(self)
        self.on_stage: StageHook | None = None
        """Called with (stage, seconds) per stage of each frame; on CUDA it synchronises, so leave it unset unless timing."""

    @classmethod
    def from_style(cls, style: Style, **options) -> Stylizer:
        """A Stylizer for a registered style, honouring its metadata (padding)."""
        head, bg, meta = style.load()
        return cls(head, bg, padding=meta.get("padding", "white"), **options)

    # -- model passes -------------------------------------------------------------
    def _build_models(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """Each part on the device in the current dtype; on CUDA replayed as graphs (see :mod:`dctnet.cuda_graphs`)."""
        models = {part: build_model(sd, self.choice, self.dtype) for part, sd in self._weights.items()}
        return {part: GraphedModel(m) for part, m in models.items()} if self.cuda_graphs else models

    def _fall_back_to_fp32(self) -> None:
        log.warning("fp16 produced non-finite values on %s; using fp32 from now on", self.choice.name)
        self.dtype = torch.float32
        self._models = self._build_models()

    @torch.inference_mode()
    def infer(self, part: str, batch: torch.Tensor) -> torch.Tensor:
        """``head`` or ``bg`` on a ``[N,3,H,W]`` batch of BGR values 0..255 on the device -> uint8 NCHW."""
        y = self._models[part](batch.to(self.dtype))
        if self.dtype == torch.float16 and not torch.isfinite(y).all():
            self._fall_back_to_fp32()
            y = self._models[part](batch.float())
        return to_uint8(y.float())

    def run_model(self, part: str, images: np.ndarray) -> np.ndarray:
        """``head`` or ``bg`` on a batch of uint8 BGR images ``[N,H,W,3]`` -> uint8."""
        batch = torch.from_numpy(np.ascontiguousarray(images)).to(self.choice.device)
        return self.infer(part, batch.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).cpu().numpy()

    @contextlib.contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        if self.on_stage is None:
            yield
            return
        self._synchronize()
        started = time.perf_counter()
        yield
        self._synchronize()
        self.on_stage(name, time.perf_counter() - started)

    def _synchronize(self) -> None:
        if self.choice.is_cuda:
            torch.cuda.synchronize(self.choice.device)

    # -- the pipeline --------------------------------------------------------------
    @torch.inference_mode()
    def stylize(self, frame_bgr: np.ndarray, faces: Sequence[Face] = ()) -> np.ndarray:
        """Cartoonize one frame; ``faces`` are in the frame's pixel coordinates.

        In ``face`` mode only ``faces[0]`` is used: callers put the main face first.
        """
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise LiveToonError(f"expected a uint8 HxWx3 BGR frame, got {frame_bgr.dtype} {frame_bgr.shape}")
        ops = self.ops
        h, w = frame_bgr.shape[:2]
        if self.mode is Mode.FACE:  # full resolution: everything but the face stays bit-exact
            canvas = ops.upload(frame_bgr)
            return self._blend(canvas, *self._heads(canvas, list(faces[:1])), (h, w))
        scale = processing_scale(h, w, self.max_size)
        with self._stage("bg pass"):
            work = frame_bgr
            if scale != 1.0:
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                work = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
            source = ops.upload(work)
            out = ops.background(source)
        wanted = [face.scaled(scale) for face in faces] if self.mode is Mode.FULL else []
        return self._blend(out, *self._heads(source, wanted), (h, w))

    def _heads(self, source: Frame, faces: list[Face]) -> tuple[Sequence[Frame], list[np.ndarray]]:
        """The head pass on ``source``, all faces in one batch: (cartoons, crop matrices)."""
        if not faces:
            return [], []
        with self._stage("head pass"):
            return self.ops.heads(source, faces)

    def _blend(self, canvas: Frame, heads: Sequence[Frame], matrices: list[np.ndarray], size_hw: tuple[int, int]) -> np.ndarray:
        """Heads pasted face by face, the result brought to the frame's size and home as numpy."""
        with self._stage("blend"):
            for head, matrix in zip(heads, matrices):
                canvas = self.ops.paste(canvas, head, matrix)
            if self.ops.size(canvas) != size_hw:
                canvas = self.ops.resize(canvas, size_hw)
            return self.ops.download(canvas)
