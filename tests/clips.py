"""Real encoded test clips, made with PyAV: a real face photo moving over a background.

The motion is known (``position(i)``), audio is a sine tone per stream, timestamps
can be irregular (VFR) and a display rotation can be set, so tests can check what
comes out against what went in. ``displayed_corner`` reads the MP4 display matrix
straight from the file's bytes, so orientation is checked against the format's own
definition rather than against the code under test.
"""

from __future__ import annotations

from fractions import Fraction
import struct
from pathlib import Path

import av
import cv2
import numpy as np


def photo_bgr() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def position(i: int, frames: int, width: int, sprite: int) -> tuple[int, int]:
    """Top-left corner of the moving photo in frame ``i`` (left to right, slight bob)."""
    x = round((width - sprite) * i / max(frames - 1, 1))
    return x, 4 + (i % 3)


def moving_photo_frames(frames: int, width: int, height: int, sprite: int | None = None) -> list[np.ndarray]:
    sprite = sprite or min(height - 8, width // 2)
    face = cv2.resize(photo_bgr()[40:300, 110:370], (sprite, sprite), interpolation=cv2.INTER_AREA)
    background = np.zeros((height, width, 3), np.uint8)
    background[:] = np.linspace(40, 200, width, dtype=np.uint8)[None, :, None]
    out = []
    for i in range(frames):
        frame = background.copy()
        x, y = position(i, frames, width, sprite)
        frame[y:y + sprite, x:x + sprite] = face
        cv2.rectangle(frame, (0, 0), (7, 7), (0, 0, 255), -1)  # a red marker, top-left
        out.append(frame)
    return out


def write_clip(
    path: Path,
    frames: int = 24,
    size: tuple[int, int] = (192, 128),
    rate: Fraction = Fraction(24),
    audio: tuple[str, ...] = ("aac",),
    pts: list[int] | None = None,
    rotation: int = 0,
    images: list[np.ndarray] | None = None,
) -> Path:
    """Encode a clip; ``audio`` names one codec per audio stream (``aac``, ``pcm_s16le``...)."""
    width, height = size
    images = images or moving_photo_frames(frames, width, height)
    time_base = Fraction(1, 1000) if pts else 1 / rate
    pts = pts or list(range(len(images)))
    duration = float((pts[-1] * time_base) + 1 / rate)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = video.codec_context.time_base = time_base
        video.options = {"crf": "18", "preset": "ultrafast"}
        if rotation:
            video.set_display_rotation(rotation)
        tracks = []
        for k, codec in enumerate(audio):
            stream = container.add_stream(codec, rate=44100)
            stream.layout = "stereo" if k == 0 else "mono"
            tracks.append((stream, 440.0 * (k + 1)))
        for image, t in zip(images, pts):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = t, time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for stream, tone in tracks:
            write_tone(container, stream, tone, duration)
    return path


def write_tone(container: av.container.OutputContainer, stream: av.stream.Stream, tone: float, seconds: float) -> None:
    rate, channels = 44100, stream.codec_context.layout.nb_channels
    samples = int(round(seconds * rate))
    t = np.arange(samples) / rate
    wave = (0.3 * np.sin(2 * np.pi * tone * t) * 32767).astype(np.int16)
    block = 1024
    for start in range(0, samples, block):
        chunk = np.repeat(wave[None, start:start + block], channels, axis=0).T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="s16", layout=stream.layout.name)
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def probe(path: Path) -> dict:
    """What a player would see: per stream duration, the video pts list, rate."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        info = {"rate": Fraction(video.average_rate), "time_base": Fraction(video.time_base),
                "size": (video.width, video.height), "pts": [], "audio": []}
        ends = {s.index: 0.0 for s in container.streams.audio}
        codecs = {s.index: s.codec_context.name for s in container.streams.audio}
        for packet in container.demux():
            if packet.pts is None:
                continue
            if packet.stream.type == "video":
                info["pts"].append(packet.pts)
            elif packet.stream.type == "audio":
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                ends[packet.stream.index] = max(ends[packet.stream.index], end)
        info["pts"].sort()
        info["audio"] = [(codecs[i], ends[i]) for i in sorted(ends)]
        info["video_end"] = float((info["pts"][-1] * info["time_base"])) + float(1 / info["rate"]) if info["pts"] else 0.0
    return info


def write_tone_file(path: Path, seconds: float = 0.5) -> Path:
    """An audio-only file (AAC sine tone), for "has no video stream"."""
    with av.open(str(path), "w") as container:
        write_tone(container, container.add_stream("aac", rate=44100), 440.0, seconds)
    return path


def red_corner(image: np.ndarray) -> str:
    """Which corner of a BGR frame holds the red marker ``moving_photo_frames`` draws."""
    corners = {"top-left": image[1:7, 1:7], "top-right": image[1:7, -7:-1],
               "bottom-left": image[-7:-1, 1:7], "bottom-right": image[-7:-1, -7:-1]}
    red = [name for name, patch in corners.items() if patch[..., 2].mean() > 180 and patch[..., :2].mean() < 80]
    assert len(red) == 1, red
    return red[0]


def displayed_corner(path: Path, corner: str = "top-left") -> str:
    """Where a player shows the stored frame's ``corner``, from the video track's ``tkhd`` matrix.

    ISO/IEC 14496-12 (and QuickTime) map a stored point (x, y), y pointing down, to
    (a*x + c*y + tx, b*x + d*y + ty); the shown picture is the bounding box of the
    mapped frame.
    """
    data = Path(path).read_bytes()
    at = 0
    while (at := data.find(b"tkhd", at + 1)) > 0:
        body = at + 4
        version = data[body]
        matrix_at = body + 4 + (32 if version == 1 else 20) + 16
        a, b, _, c, d, _, tx, ty, _ = struct.unpack(">9i", data[matrix_at:matrix_at + 36])
        width, height = struct.unpack(">2I", data[matrix_at + 36:matrix_at + 44])
        if width and height:  # the video track (audio tracks have no size)
            break
    else:
        raise AssertionError(f"{path}: no video tkhd")
    a, b, c, d, tx, ty = (v / 65536 for v in (a, b, c, d, tx, ty))
    w, h = width / 65536, height / 65536

    def shown(x: float, y: float) -> tuple[float, float]:
        return a * x + c * y + tx, b * x + d * y + ty

    mapped = [shown(x, y) for x, y in ((0, 0), (w, 0), (0, h), (w, h))]
    xs, ys = [m[0] for m in mapped], [m[1] for m in mapped]
    vertical, horizontal = corner.split("-")
    x, y = shown(w if horizontal == "right" else 0, h if vertical == "bottom" else 0)
    return f"{'top' if y < (min(ys) + max(ys)) / 2 else 'bottom'}-{'left' if x < (min(xs) + max(xs)) / 2 else 'right'}"
