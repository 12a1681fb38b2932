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

The steps themselves run through an :class:`~dctnet.frame_ops.Ops`, chosen by
device (numpy + OpenCV on the CPU, tensors kept on the GPU: ``frame_ops.py``). ``on_stage``
hears how long the bg pass, the head pass and the blend took (``bench`` uses it).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
from collections.abc import Callable, Iterator, Sequence

import cv2
import numpy as np
import torch

from .crop_windows import Box, grid_box
from .cuda_graphs import GraphedModel
from .device import DeviceChoice, choose_device
from common.errors import LiveToonError
from faces.finder import Face
from .frame_ops import PAD_MULTIPLE, PADDINGS, Frame, FrameOps, Ops, TensorOps
from .network import TTN, to_uint8
from .styles import Style, StylePart

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 720
"""The official rule: frames whose short side exceeds this are processed smaller."""
STAGES = ("bg pass", "head pass", "blend")
"""What ``on_stage`` reports, each at most once per frame."""
StageHook = Callable[[str, float], None]


def check_frame(frame_bgr: np.ndarray) -> None:
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise LiveToonError(f"expected a uint8 HxWx3 BGR frame, got {frame_bgr.dtype} {frame_bgr.shape}")


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


def model_stream(device: torch.device) -> torch.cuda.Stream:
    """A CUDA stream at the lowest priority the device offers (``priority_range()[0]``): the
    GPU's block scheduler then runs any higher-priority work queued beside it first."""
    return torch.cuda.Stream(device, priority=torch.cuda.Stream.priority_range()[0])


@contextlib.contextmanager
def on_stream(stream: torch.cuda.Stream | None) -> Iterator[None]:
    """Run the enclosed CUDA work on ``stream``, ordered after and before the caller's stream's
    work (a no-op for None). Tensors made inside and used after are the caller's to mark
    (:meth:`torch.Tensor.record_stream`)."""
    if stream is None:
        yield
        return
    caller = torch.cuda.current_stream(stream.device)
    stream.wait_stream(caller)
    with torch.cuda.stream(stream):
        yield
    caller.wait_stream(stream)


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
        tensor_frames: bool = False,
        low_priority: bool = True,
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
        self._models = self._build_models()
        self.ops: Ops = (TensorOps(self.infer, padding, self.choice.device) if self.choice.is_cuda or tensor_frames
                         else FrameOps(self.run_model, padding))
        """``tensor_frames`` takes :class:`TensorOps` on the CPU too: torch on the CPU runs the
        device path's code, so tests and the GPU check's rehearsal can hold it to the CPU path."""
        self.model_stream = model_stream(self.choice.device) if low_priority and self.choice.is_cuda else None
        """The stream the model's CUDA work runs on (the lowest priority, so other work on the
        GPU goes first); None: the current stream (on the CPU, always)."""
        self.on_stage: StageHook | None = None
        """Called with (stage, seconds) per stage of each frame; on CUDA it synchronises, so leave it unset unless timing."""

    @property
    def keeps_frames_on_device(self) -> bool:
        """Whether ``stylize(..., keep=True)`` leaves its result as a device tensor (:class:`TensorOps`)."""
        return isinstance(self.ops, TensorOps)

    @classmethod
    def from_style(cls, style: Style, **options) -> Stylizer:
        """A Stylizer for a registered style, honouring its metadata (padding)."""
        head, bg, meta = style.load()
        return cls(head, bg, padding=meta.get("padding", "white"), **options)

    # -- model passes -------------------------------------------------------------
    def _build_models(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """Each part on the device in the current dtype; on CUDA replayed as graphs (see :mod:`dctnet.cuda_graphs`)."""
        models = {part: build_model(sd, self.choice, self.dtype) for part, sd in self._weights.items()}
        return {part: GraphedModel(m) if self.cuda_graphs and getattr(m, "capturable", True) else m
                for part, m in models.items()}

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
    def stylize(self, frame_bgr: np.ndarray, faces: Sequence[Face] = (), region: Sequence[Box] | None = None,
                keep: bool = False) -> Frame:
        """Cartoonize one frame; ``faces`` are in the frame's pixel coordinates.

        ``keep``: with :class:`TensorOps`, the result stays on the device as a ``[1,3,H,W]``
        float32 tensor on the uint8 grid, for a chain that goes on there (one download at
        its end); otherwise, and always with :class:`FrameOps`, a numpy HxWx3 uint8 frame.

        In ``face`` mode only ``faces[0]`` is used: callers put the main face first.
        ``region`` (boxes x0, y0, x1, y1 in frame pixels) limits the bg pass to those
        boxes, grown to the bg model's 4-pixel grid; each runs on a window of the padded
        frame that gives its pixels as a whole-frame pass would (:mod:`dctnet.crop_windows`).
        Outside them the frame is left as it is (a compositor covers it with another
        background). No boxes skips the bg pass; None runs it on the whole frame.

        On CUDA the boxes are not used: their windows change shape from frame to frame,
        and every new shape means a new CUDA graph (two eager runs and a capture) and a
        new round of cuDNN's kernel timing, far more than the whole frame's few
        milliseconds. The boxes are for the CPU, where the work follows the pixels.
        """
        check_frame(frame_bgr)
        with on_stream(self.model_stream):
            result = self._stylized(frame_bgr, faces, region, keep)
        if isinstance(result, torch.Tensor) and self.model_stream is not None:
            result.record_stream(torch.cuda.current_stream(self.choice.device))  # made there, used here
        return result

    def _stylized(self, frame_bgr: np.ndarray, faces: Sequence[Face], region: Sequence[Box] | None,
                  keep: bool) -> Frame:
        ops = self.ops
        h, w = frame_bgr.shape[:2]
        if self.mode is Mode.FACE:  # full resolution: everything but the face stays bit-exact
            canvas = ops.upload(frame_bgr)
            return self._blend(canvas, *self._heads(canvas, list(faces[:1])), (h, w), keep)
        with self._stage("bg pass"):
            work, scale = self._work_image(frame_bgr)
            source = ops.upload(work)
            if region is None or (region and self.choice.is_cuda):
                out = ops.background(source)  # on CUDA, boxes would cost more than they save: see below
            else:
                boxes = [box for box in (grid_box(r, scale, work.shape[:2]) for r in region) if box is not None]
                out = ops.background_within(source, boxes) if boxes else source
        wanted = [face.scaled(scale) for face in faces] if self.mode is Mode.FULL else []
        return self._blend(out, *self._heads(source, wanted), (h, w), keep)

    @torch.inference_mode()
    def stylize_background(self, image_bgr: np.ndarray) -> np.ndarray:
        """The bg pass alone on a whole picture, whatever the mode (a backdrop behind a person)."""
        check_frame(image_bgr)
        work, _ = self._work_image(image_bgr)
        with on_stream(self.model_stream):
            return self._blend(self.ops.background(self.ops.upload(work)), [], [], image_bgr.shape[:2], False)

    def _work_image(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, float]:
        """The frame at the processing size (short side at most ``max_size``) and its scale."""
        h, w = frame_bgr.shape[:2]
        scale = processing_scale(h, w, self.max_size)
        if scale == 1.0:
            return frame_bgr, scale
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA), scale

    def _heads(self, source: Frame, faces: list[Face]) -> tuple[Sequence[Frame], list[np.ndarray]]:
        """The head pass on ``source``, all faces in one batch: (cartoons, crop matrices)."""
        if not faces:
            return [], []
        with self._stage("head pass"):
            return self.ops.heads(source, faces)

    def _blend(self, canvas: Frame, heads: Sequence[Frame], matrices: list[np.ndarray], size_hw: tuple[int, int],
               keep: bool) -> Frame:
        """Heads pasted face by face, the result brought to the frame's size and home as numpy
        (left where it is with ``keep`` and :class:`TensorOps`)."""
        with self._stage("blend"):
            for head, matrix in zip(heads, matrices):
                canvas = self.ops.paste(canvas, head, matrix)
            if self.ops.size(canvas) != size_hw:
                canvas = self.ops.resize(canvas, size_hw)
            if keep and self.keeps_frames_on_device:
                return canvas
            return self.ops.download(canvas)
