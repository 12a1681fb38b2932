"""Reading video files with PyAV: exact timestamps, exact rates, upright frames.

Peers lose sync by assuming ``int(fps)`` and regular timestamps; here every frame
keeps the decoder's own ``pts`` (so variable frame rate stays variable) and the rate
is an exact ``Fraction`` (30000/1001, not 29.97). Rotation metadata (phones) is
applied so frames come out as a player shows them.

Damaged files: a file FFmpeg cannot open or whose first frame cannot be decoded
fails in the constructor. A file damaged further in (a cut-off download) yields
the frames before the damage and then *raises* a :class:`LiveToonError` naming the
frame and time: ending quietly would let a caller write a shorter video and call it
a success. Damage is noticed from a decoding error, from fewer frames than the
container declares (MP4/MOV), or from frames stopping well short of the video
stream's declared duration (Matroska's ``DURATION`` tag; the margin is generous so
a long final frame of a variable-rate clip is not mistaken for damage).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from common.errors import LiveToonError

from app.frames import VideoFrame

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm", ".mts", ".m2ts", ".ts", ".wmv", ".flv", ".3gp")
"""The one list of video files we open: ``convert``'s folders, the window's drop and open, its background picker."""
DAMAGE_MARGIN_SECONDS = 1.0
"""Frames ending this much (and 10 %) before the declared duration mean the file was cut."""


def quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns (for ``np.rot90``) that make a frame upright.

    PyAV's ``frame.rotation`` is the display matrix's counter-clockwise angle (the
    value ``stream.set_display_rotation`` writes): a phone held in portrait stores
    landscape pixels with -90, and a player turns them a quarter clockwise.
    """
    return int(round(rotation / 90.0)) % 4


def open_container(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading, every failure a user can cause as one clear message."""
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


def parse_clock(text: str | None) -> float | None:
    """Seconds from Matroska's ``HH:MM:SS.nnnnnnnnn`` stream ``DURATION`` tag."""
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", (text or "").strip())
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


class VideoReader:
    """Iterate a file's first video stream, once, as upright BGR frames with their timestamps.

    Attributes: ``path``, ``width``/``height`` (as displayed, after rotation),
    ``rotation`` (counter-clockwise degrees applied: 0, 90, 180 or 270), ``rate``
    (exact frame rate), ``time_base``, ``audio_streams`` (count).
    """

    def __init__(self, path: Path, on_note: Callable[[str], None] | None = None) -> None:
        """``on_note``: told once when later frames change size (a stream cut from two
        sources) and are scaled to the first frame's, as a player shows them."""
        self.path = Path(path)
        self.on_note = on_note
        self.resized = 0
        """Frames scaled to the first frame's size so far."""
        self.pts_shift = 0
        """Added to the decoder's timestamps once they have started again (see ``_convert``)."""
        self.container = open_container(self.path)
        try:
            self._setup()
        except BaseException:
            self.container.close()
            raise

    def _setup(self) -> None:
        if not self.container.streams.video:
            raise LiveToonError(f"{self.path}: has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.time_base = Fraction(self.stream.time_base)
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        if not rate:
            raise LiveToonError(f"{self.path}: video stream has no frame rate")
        self.rate = Fraction(rate)
        self.audio_streams = len(self.container.streams.audio)
        # One decoder generator for the reader's life: a second one would drop the
        # frames a threaded decoder hands back together with the first.
        self._decoder = self.container.decode(self.stream)
        self._first = self._first_frame()
        self.rotation = quarter_turns(self._first.rotation) * 90
        width, height = self._first.width, self._first.height
        self.width, self.height = (height, width) if self.rotation in (90, 270) else (width, height)

    def _first_frame(self) -> av.VideoFrame:
        try:
            return next(self._decoder)
        except StopIteration:
            raise LiveToonError(f"{self.path}: video stream holds no frames") from None
        except av.error.FFmpegError as exc:
            raise LiveToonError(f"{self.path}: damaged, cannot decode the first frame ({exc})") from exc

    def _stream_duration(self) -> float | None:
        """Seconds of the video stream alone, when the file declares it."""
        if self.stream.duration:
            return float(self.stream.duration * self.time_base)
        return parse_clock(self.stream.metadata.get("DURATION"))

    @property
    def duration(self) -> float | None:
        """Seconds of video as declared (the whole container's when the stream says nothing)."""
        declared = self._stream_duration()
        if declared:
            return declared
        return self.container.duration / av.time_base if self.container.duration else None

    @property
    def frame_count_estimate(self) -> int | None:
        """The declared frame count, else duration x rate; for progress bars only."""
        if self.stream.frames:
            return int(self.stream.frames)
        duration = self.duration
        return round(duration * self.rate) if duration else None

    def _convert(self, frame: av.VideoFrame, index: int, previous_pts: int | None) -> VideoFrame:
        image = frame.to_ndarray(format="bgr24")
        turns = quarter_turns(frame.rotation)
        if turns:
            image = np.ascontiguousarray(np.rot90(image, turns))
        if image.shape[:2] != (self.height, self.width):
            image = self._scaled(image, index)
        step = max(1, round(1 / (self.rate * self.time_base)))
        pts = frame.pts
        if pts is None:  # rare (raw streams): count on from the previous frame at the nominal rate
            pts = 0 if previous_pts is None else previous_pts + step
        else:
            pts += self.pts_shift
            if previous_pts is not None and pts <= previous_pts:
                # Timestamps that start again (two recordings joined end to end): go on from
                # the previous frame, as a player does; the audio follows (``AudioCarrier``).
                self.pts_shift += previous_pts + step - pts
                pts = previous_pts + step
        return VideoFrame(image, pts, float(pts * self.time_base), index)

    def _scaled(self, image: np.ndarray, index: int) -> np.ndarray:
        """A frame of another size, at the first frame's: every consumer (encoder, stabilizer,
        keyframes) holds one size per file."""
        if not self.resized and self.on_note is not None:
            self.on_note(f"{self.path}: the frame size changes at frame {index} ({image.shape[1]}x{image.shape[0]}); "
                         f"such frames are scaled to the first frame's {self.width}x{self.height}")
        self.resized += 1
        return cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)

    def __iter__(self) -> Iterator[VideoFrame]:
        frame, index, converted = self._first, 0, None
        while True:
            converted = self._convert(frame, index, converted.pts if converted else None)
            yield converted
            index += 1
            try:
                frame = next(self._decoder)
            except StopIteration:
                self._check_complete(index, converted)
                return
            except av.error.FFmpegError as exc:
                raise LiveToonError(
                    f"{self.path}: damaged at frame {index} ({converted.time:.2f} s): {exc}"
                ) from exc

    def _check_complete(self, decoded: int, last: VideoFrame) -> None:
        """Raise when the frames ran out before the file said they would (see module doc)."""
        declared = int(self.stream.frames or 0)
        if declared and decoded < declared:
            raise LiveToonError(
                f"{self.path}: damaged at frame {decoded} ({last.time:.2f} s): "
                f"only {decoded} of {declared} frames could be decoded"
            )
        duration = None if declared else self._stream_duration()  # not the container's: audio may run longer
        end = last.time + float(1 / self.rate)
        if duration and duration - end > max(DAMAGE_MARGIN_SECONDS, 0.1 * duration):
            raise LiveToonError(
                f"{self.path}: damaged at frame {decoded} ({last.time:.2f} s): "
                f"the video should last {duration:.2f} s"
            )

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
