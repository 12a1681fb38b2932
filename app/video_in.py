"""Reading video files with PyAV: exact timestamps, exact rates, upright frames.

Peers lose sync by assuming ``int(fps)`` and regular timestamps; here every frame
keeps the decoder's own ``pts`` (so variable frame rate stays variable) and the rate
is an exact ``Fraction`` (30000/1001, not 29.97). Rotation metadata (phones) is
applied so frames come out as a player shows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dctnet.errors import LiveToonError


@dataclass(frozen=True)
class VideoFrame:
    image: np.ndarray  # uint8 HxWx3 BGR, upright
    pts: int  # in the stream's time_base
    time: float  # seconds
    index: int


def quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns that make a frame upright.

    PyAV's ``frame.rotation`` is the display matrix's counter-clockwise angle: a
    phone clip shot in portrait says 90 or -90, and a player turns it that way.
    """
    return int(round(rotation / 90.0)) % 4


def open_container(path: Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise LiveToonError(f"{path}: no such file")
    if path.is_dir():
        raise LiveToonError(f"{path}: is a folder, not a video file")
    if path.stat().st_size == 0:
        raise LiveToonError(f"{path}: empty file")
    try:
        return av.open(str(path), mode="r")
    except av.error.InvalidDataError as exc:
        raise LiveToonError(f"{path}: not a video file, or damaged beyond reading") from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise LiveToonError(f"{path}: cannot open ({exc})") from exc


class VideoReader:
    """Iterate a file's first video stream as upright BGR frames with their timestamps.

    A file damaged mid-way yields the frames before the damage, then raises a
    LiveToonError naming the time it stopped at: silently ending early would write
    a shorter video and call it a success.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.container = open_container(self.path)
        if not self.container.streams.video:
            self.container.close()
            raise LiveToonError(f"{self.path}: has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.time_base = Fraction(self.stream.time_base)
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        if not rate:
            self.container.close()
            raise LiveToonError(f"{self.path}: video stream has no frame rate")
        self.rate = Fraction(rate)
        self.audio_streams = len(self.container.streams.audio)
        self._first = self._peek_first_frame()
        self.rotation = quarter_turns(self._first.rotation) * 90
        width, height = self._first.width, self._first.height
        self.width, self.height = (height, width) if self.rotation in (90, 270) else (width, height)

    def _peek_first_frame(self) -> av.VideoFrame:
        try:
            return next(self.container.decode(self.stream))
        except StopIteration:
            self.container.close()
            raise LiveToonError(f"{self.path}: video stream holds no frames") from None
        except av.error.FFmpegError as exc:
            self.container.close()
            raise LiveToonError(f"{self.path}: cannot decode the first frame ({exc})") from exc

    @property
    def duration(self) -> float | None:
        if self.stream.duration:
            return float(self.stream.duration * self.time_base)
        return self.container.duration / av.time_base if self.container.duration else None

    @property
    def frame_count_estimate(self) -> int | None:
        if self.stream.frames:
            return int(self.stream.frames)
        return round(self.duration * self.rate) if self.duration else None

    def _convert(self, frame: av.VideoFrame, index: int, last_pts: int) -> VideoFrame:
        image = frame.to_ndarray(format="bgr24")
        turns = quarter_turns(frame.rotation)
        if turns:
            image = np.ascontiguousarray(np.rot90(image, turns))
        pts = frame.pts if frame.pts is not None else last_pts + round(1 / (self.rate * self.time_base))
        return VideoFrame(image, pts, float(pts * self.time_base), index)

    def __iter__(self) -> Iterator[VideoFrame]:
        frame, index, pts = self._first, 0, -1
        decoder = self.container.decode(self.stream)
        while True:
            converted = self._convert(frame, index, pts)
            pts = converted.pts
            yield converted
            index += 1
            try:
                frame = next(decoder)
            except StopIteration:
                if self.stream.frames and index < self.stream.frames:
                    raise LiveToonError(
                        f"{self.path}: damaged: only {index} of {self.stream.frames} frames could be decoded"
                    ) from None
                return
            except av.error.FFmpegError as exc:
                raise LiveToonError(f"{self.path}: damaged at {converted.time:.2f} s, frame {index} ({exc})") from exc

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
