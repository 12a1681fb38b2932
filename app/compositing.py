"""Backgrounds behind the cut-out person: ``--background keep|blur|transparent|color[:#RRGGBB]|PATH``.

``keep`` is the whole cartoon, room included (no matte runs). Every other choice
runs the person matte (:mod:`matte`) and puts the cartoon person over:

* ``blur``: the camera picture, strongly blurred;
* ``color``: one colour, pure green by default, for OBS's chroma-key filter;
* ``transparent``: the output carries the matte as its alpha; outputs that cannot
  carry alpha (virtual camera, UDP stream) get the person over the key
  colour (pure green), which is what ``output`` holds;
* a picture file (used as it is, or stylized once by the style's bg pass and cached)
  or a video file (looped; stylized frame by frame when asked).

Every bad choice fails before anything runs, in one line that says what to write.
"""

from __future__ import annotations

import enum
import re
import weakref
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dctnet.engine import Stylizer
from common.errors import LiveToonError
from faces.finder import Face
from matte.composite import blurred, cover, over
from matte.stage import Matte, PersonMatte, Segmenter

from app.media.image_in import IMAGE_SUFFIXES, read_image

KEY_COLOUR = (0, 255, 0)
"""Pure green (BGR): the default of ``color`` and what ``transparent`` shows where alpha cannot go."""
BACKGROUND_HELP = ("what goes behind the person: keep (the cartoon's own background), blur, transparent (alpha; "
                   "pure green where an output has no alpha), color[:#RRGGBB] (default pure green), or an image "
                   "or video file (looped)")


def face_centre(face: Face) -> tuple[float, float]:
    """Where the main person is, for "main person only": the middle of the face's box."""
    x0, y0, x1, y1 = face.box
    return (x0 + x1) / 2, (y0 + y1) / 2


class Kind(str, enum.Enum):
    KEEP = "keep"
    BLUR = "blur"
    COLOR = "color"
    TRANSPARENT = "transparent"
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class Background:
    """A parsed ``--background``; ``text`` is what the user wrote (settings keep that)."""

    kind: Kind
    text: str
    colour: tuple[int, int, int] = KEY_COLOUR
    """BGR, for ``color`` (and the key colour of ``transparent``)."""
    path: Path | None = None

    @property
    def needs_matte(self) -> bool:
        return self.kind is not Kind.KEEP


def parse_colour(text: str) -> tuple[int, int, int]:
    """``#RRGGBB`` (or ``RRGGBB``) -> BGR."""
    match = re.fullmatch(r"#?([0-9a-fA-F]{6})", text.strip())
    if match is None:
        raise LiveToonError(f"--background color: expected #RRGGBB such as #00ff00, got {text!r}")
    value = int(match.group(1), 16)
    return value & 0xFF, (value >> 8) & 0xFF, value >> 16


def parse_background(text: str) -> Background:
    """The choice behind ``--background``; a file is checked now (exists, decodes)."""
    word = text.strip()
    lowered = word.lower()
    if lowered in (Kind.KEEP.value, Kind.BLUR.value, Kind.TRANSPARENT.value, Kind.COLOR.value):
        return Background(Kind(lowered), lowered)
    if lowered.startswith("color:") or lowered.startswith("colour:"):
        return Background(Kind.COLOR, word, parse_colour(word.split(":", 1)[1]))
    path = Path(word).expanduser()
    if not word:
        raise LiveToonError("--background: empty; use keep, blur, transparent, color[:#RRGGBB] or a file")
    if not path.is_file():
        raise LiveToonError(f"--background {word}: no such file (and not one of keep, blur, transparent, color[:#RRGGBB])")
    from app.media.video_in import VideoReader

    try:  # a corrupt file fails now, not at the first frame
        if path.suffix.lower() in IMAGE_SUFFIXES:
            read_image(path)
            return Background(Kind.IMAGE, word, path=path)
        VideoReader(path).close()
    except LiveToonError as exc:
        raise LiveToonError(f"--background: {exc}") from None
    return Background(Kind.VIDEO, word, path=path)


class BackgroundError(LiveToonError):
    """The ``--background`` file failed mid-run. Every output needs it, so the whole run
    stops, saying ``--background``: it is not the input being converted that failed."""


class BackgroundSource:
    """The picture behind the person for each frame, at the frame's size."""

    def __init__(self, choice: Background, stylized: bool = False) -> None:
        self.choice, self.stylized = choice, stylized
        self._still: np.ndarray | None = None
        self._cached: np.ndarray | None = None
        self._cached_size: tuple[int, int] = (0, 0)
        self._cached_style: weakref.ref[Stylizer] | None = None
        """The Stylizer itself (weakly), never its ``id``: an id is reused once its object is
        collected, and a new style would then get the old style's backdrop."""
        self._reader = None
        self._frames = None
        if choice.kind is Kind.IMAGE:
            self._still = read_image(choice.path)

    def _next_video_frame(self) -> np.ndarray:
        from app.media.video_in import VideoReader  # PyAV loads only for a video background

        for _ in range(2):  # at the end, once more from the start
            try:
                if self._reader is None:
                    self._reader = VideoReader(self.choice.path)
                    self._frames = iter(self._reader)
                frame = next(self._frames, None)
            except LiveToonError as exc:  # damaged further in than parse_background looked
                raise BackgroundError(f"--background: {exc}") from None
            if frame is not None:
                return frame.image
            self.close()
        raise LiveToonError(f"--background {self.choice.text}: the video has no frames")

    def __call__(self, camera_bgr: np.ndarray, stylizer: Stylizer | None) -> np.ndarray:
        h, w = camera_bgr.shape[:2]
        kind = self.choice.kind
        if kind is Kind.BLUR:
            return blurred(camera_bgr)
        if kind is Kind.VIDEO:
            picture = cover(self._next_video_frame(), h, w)
            return stylizer.stylize_background(picture) if self.stylized and stylizer else picture
        if not self.cached_for(h, w, stylizer):  # a colour or a still: made once per frame size (and style)
            if kind is Kind.IMAGE:
                cached = cover(self._still, h, w)
                if self.stylized and stylizer is not None:
                    cached = stylizer.stylize_background(cached)
            else:
                cached = np.empty((h, w, 3), np.uint8)
                cached[:] = self.choice.colour
            self._cached, self._cached_size = cached, (h, w)
            self._cached_style = weakref.ref(stylizer) if self.stylized and stylizer is not None else None
        assert self._cached is not None
        return self._cached

    def cached_for(self, h: int, w: int, stylizer: Stylizer | None) -> bool:
        """Whether the colour or still for an ``h`` x ``w`` frame (stylized: by this very
        ``stylizer``) is made already, so a call makes nothing."""
        if self._cached is None or self._cached_size != (h, w):
            return False
        if not self.stylized:
            return True
        made_by = self._cached_style() if self._cached_style is not None else None
        return made_by is stylizer

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = self._frames = None


class Compositor:
    """The matte stage and the background for one frame chain."""

    def __init__(self, choice: Background, segmenter: Segmenter, main_person_only: bool = True,
                 stylized_background: bool = False) -> None:
        if not choice.needs_matte:
            raise ValueError("background 'keep' needs no compositor")
        self.choice = choice
        self.matte = PersonMatte(segmenter, main_person_only)
        self.background = BackgroundSource(choice, stylized_background)

    @property
    def transparent(self) -> bool:
        return self.choice.kind is Kind.TRANSPARENT

    def compose(self, camera_bgr: np.ndarray, cartoon_bgr: np.ndarray, matte: Matte,
                stylizer: Stylizer | None) -> tuple[np.ndarray, np.ndarray | None]:
        """(what goes to the outputs, its alpha or None when opaque)."""
        output = over(cartoon_bgr, self.background(camera_bgr, stylizer), matte.alpha)
        return output, (matte.alpha if self.transparent else None)

    def reset(self) -> None:
        self.matte.reset()

    def close(self) -> None:
        self.background.close()


def add_background_options(parser) -> None:
    """``--background`` and its two switches, on every command that makes pictures."""
    parser.add_argument("--background", default=Kind.KEEP.value, metavar="keep|blur|transparent|color[:#RRGGBB]|PATH",
                        help=f"{BACKGROUND_HELP} (default keep)")
    parser.add_argument("--everyone", action="store_true",
                        help="with a background: keep every person (default: only the one with the main face)")
    parser.add_argument("--stylize-background", action="store_true",
                        help="with an image or video background: run it through the style's bg pass (a still once)")


def cut_out_still(compositor: Compositor, stylizer: Stylizer, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
    """One photo: matte (no motion), the bg pass on the person's box, composed; BGRA when transparent
    (the cartoon's own colours under the alpha, not mixed with the key colour)."""
    compositor.reset()
    matte = compositor.matte(image_bgr, None, face_centre(faces[0]) if faces else None)
    cartoon = stylizer.stylize(image_bgr, faces, region=matte.boxes)
    if compositor.transparent:
        return cv2.merge([*cv2.split(cartoon), matte.alpha])
    return compositor.compose(image_bgr, cartoon, matte, stylizer)[0]
