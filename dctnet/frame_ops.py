"""The Stylizer's steps on one kind of frame: numpy with OpenCV, or tensors on the device.

:class:`FrameOps` works on numpy frames with OpenCV (the reference, and the fastest
on a CPU); :class:`TensorOps` keeps a frame on the GPU from one uint8 upload to one
uint8 download, doing the crop and paste-back warps with ``grid_sample`` where OpenCV
would, so a GPU frame never makes a round trip through host memory. Both follow the
:class:`Ops` contract, so the Stylizer's per-frame logic is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .align import CROP_SIZE, REFERENCE_POINTS, align_face, crop_footprint, head_mask, paste_back, similarity_transform
from .crop_windows import Box, canvases, crop_windows
from faces.finder import Face

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
Frame = np.ndarray | torch.Tensor
"""A frame inside the Stylizer: numpy HxWx3 uint8 (:class:`FrameOps`) or a device tensor (:class:`TensorOps`)."""
ArrayModel = Callable[[str, np.ndarray], np.ndarray]
"""``head`` or ``bg`` on uint8 BGR images ``[N,H,W,3]`` -> uint8 (``Stylizer.run_model``)."""
TensorModel = Callable[[str, torch.Tensor], torch.Tensor]
"""``head`` or ``bg`` on a ``[N,3,H,W]`` batch of BGR 0..255 on the device -> uint8 NCHW (``Stylizer.infer``).
The Ops get the model as a function and not the Stylizer, so this module needs nothing of the engine."""


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


class Ops(Protocol):
    """The Stylizer's steps on one kind of frame, so ``stylize`` is written once.

    Two implementations: :class:`FrameOps` (numpy + OpenCV, the CPU reference) and
    :class:`TensorOps` (tensors that stay on the device from ``upload`` to
    ``download``). Guarantees both keep: every step returns values on the uint8 grid
    (0..255, rounded where OpenCV rounds), ``download`` returns a numpy HxWx3 uint8
    array the caller owns (never a reused buffer), and ``paste`` may write into
    ``canvas`` and returns it. One Ops belongs to one Stylizer and is called only by it,
    on the thread running ``stylize`` (TensorOps reuses staging buffers between frames),
    so neither is thread-safe. Per frame: ``upload``, ``background`` or
    ``background_within`` (not in ``face`` mode), ``heads`` and one ``paste`` per face
    (when there are faces), ``resize`` when the size changed, ``download``.
    """

    def upload(self, image: np.ndarray) -> Frame:
        """A BGR uint8 frame into this path's representation (one copy to the device at most)."""
        ...

    def download(self, image: Frame) -> np.ndarray:
        """Back to a BGR uint8 numpy frame, waiting for the device if needed."""
        ...

    def size(self, image: Frame) -> tuple[int, int]:
        """(height, width)."""
        ...

    def background(self, image: Frame) -> Frame:
        """The bg model on the whole frame (padded per the style, cropped back)."""
        ...

    def background_within(self, image: Frame, boxes: list[Box]) -> Frame:
        """The bg model on the boxes (x0, y0, x1, y1, on the model's 4-px grid) only, each
        on its window of the padded frame (:mod:`dctnet.crop_windows`); a copy of ``image``
        outside them."""
        ...

    def heads(self, image: Frame, faces: list[Face]) -> tuple[Sequence[Frame], list[np.ndarray]]:
        """Aligned 288x288 crops through the head model in one batch: (cartoons, crop matrices)."""
        ...

    def paste(self, canvas: Frame, head: Frame, matrix: np.ndarray) -> Frame:
        """The head blended back over its crop's footprint with the soft mask."""
        ...

    def resize(self, image: Frame, size_hw: tuple[int, int]) -> Frame:
        """Bilinear resize to (height, width)."""
        ...


class FrameOps:
    """The steps on numpy uint8 HxWx3 frames with OpenCV: the reference path."""

    def __init__(self, run_model: ArrayModel, padding: str) -> None:
        self.run_model, self.padding = run_model, padding
        self._uploaded: np.ndarray | None = None

    def upload(self, image: np.ndarray) -> np.ndarray:
        self._uploaded = image
        return image

    def download(self, image: np.ndarray) -> np.ndarray:
        """Every step returns a new array except when none ran (face mode, no face): then
        the frame is the caller's own, which the caller may reuse or change after."""
        uploaded, self._uploaded = self._uploaded, None
        return image.copy() if image is uploaded else image

    @staticmethod
    def size(image: np.ndarray) -> tuple[int, int]:
        return image.shape[:2]

    def background(self, image: np.ndarray) -> np.ndarray:
        """The bg model on the whole frame, padded to a multiple of 16 (see PADDINGS)."""
        h, w = image.shape[:2]
        padded, (top, left) = pad_frame(image, self.padding)
        return self.run_model("bg", padded[None])[0, top:top + h, left:left + w]

    def background_within(self, image: np.ndarray, boxes: list[Box]) -> np.ndarray:
        out = image.copy()
        padded, _ = pad_frame(image, self.padding)
        windows = crop_windows(boxes, image.shape[:2], frame_padding(*image.shape[:2], self.padding))
        for canvas in canvases(windows, padded.shape[:2]):
            batch = np.zeros((1, *canvas.size, 3), np.uint8)
            for place in canvas.places:
                batch[0][place.source] = padded[place.window.rows, place.window.cols]
            styled = self.run_model("bg", batch)[0]
            for place in canvas.places:
                out[place.window.target] = styled[place.inner]
        return out

    def heads(self, image: np.ndarray, faces: list[Face]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Aligned crops through the head model in one batch; returns (cartoons, crop matrices)."""
        crops, matrices = zip(*(align_face(image, face.points, CROP_SIZE) for face in faces))
        return self.run_model("head", np.stack(crops)), list(matrices)

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

    def __init__(self, infer: TensorModel, padding: str, device: torch.device) -> None:
        self.infer, self.padding, self.device = infer, padding, device
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
        return self.download_all([image])[0]

    @torch.inference_mode()
    def download_all(self, images: Sequence[torch.Tensor]) -> list[np.ndarray]:
        """Several results of one frame home with one wait for the device: ``[1,C,H,W]`` pictures
        become HxWxC uint8 arrays, ``[H,W]`` planes HxW (a matte). Each array is the caller's own.
        In inference mode whoever calls: a staging buffer first made inside the Stylizer's
        ``stylize`` is an inference tensor, which only inference mode may write to."""
        hosts = []
        for i, image in enumerate(images):
            pixels = (image[0].permute(1, 2, 0) if image.dim() == 4 else image).to(torch.uint8).contiguous()
            host = self._host_buffer(f"out{i}", tuple(pixels.shape))  # HWC, as numpy wants it
            host.copy_(pixels, non_blocking=True)
            hosts.append(host)
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()
        return [host.numpy().copy() for host in hosts]  # the staging buffers are reused by the next frame

    @staticmethod
    def size(image: torch.Tensor) -> tuple[int, int]:
        return tuple(image.shape[-2:])

    def _padded(self, image: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """The frame as the bg pass takes it (see PADDINGS) and its (top, bottom, left, right) padding."""
        padding = frame_padding(*image.shape[-2:], self.padding)
        top, bottom, left, right = padding
        if self.padding == "white":
            return F.pad(image, (left, right, top, bottom), value=WHITE), padding
        return F.pad(image, (left, right, top, bottom), mode="replicate"), padding

    def background(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        padded, (top, _, left, _) = self._padded(image)
        return self.infer("bg", padded)[..., top:top + h, left:left + w].float()

    def background_within(self, image: torch.Tensor, boxes: list[Box]) -> torch.Tensor:
        out = image.clone()
        padded, padding = self._padded(image)
        for canvas in canvases(crop_windows(boxes, tuple(image.shape[-2:]), padding), tuple(padded.shape[-2:])):
            batch = padded.new_zeros((1, 3, *canvas.size))
            for place in canvas.places:
                batch[(..., *place.source)] = padded[..., place.window.rows, place.window.cols]
            styled = self.infer("bg", batch).float()
            for place in canvas.places:
                out[(..., *place.window.target)] = styled[(..., *place.inner)]
        return out

    def heads(self, image: torch.Tensor, faces: list[Face]) -> tuple[torch.Tensor, list[np.ndarray]]:
        """As :func:`align_face` (same matrix, white border, rounded crop), then the head model."""
        matrices = [similarity_transform(face.points, REFERENCE_POINTS) for face in faces]
        crops = [warp(image, cv2.invertAffineTransform(m), (CROP_SIZE, CROP_SIZE), WHITE) for m in matrices]
        return self.infer("head", torch.cat(crops).round()).float(), matrices

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
