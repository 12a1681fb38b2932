"""The settings objects that travel from a front end into the live session.

``livetoon live`` and the window build the same three objects, so the two cannot
drift apart:

* a :data:`SourceSpec` says what to open (a camera at a capture mode, or a file);
  :func:`app.live.sources.open_source` is the one place that opens it;
* :class:`OutputSettings` says what every output carries (one size, one rate);
* :class:`LiveSettings` says how the picture looks, and may change while it runs.

All three are frozen: a change is a new object, checked as it is made, so a wrong
name or type fails at the call that made it, not frames later on another thread.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path

from dctnet.engine import DEFAULT_MAX_SIZE, Mode
from common.errors import LiveToonError
from dctnet.styles import DEFAULT_STYLE
from flow.stabilize import DEFAULT_STABILITY

from app.compositing import Kind

MIN_OUTPUT_FPS, MAX_OUTPUT_FPS = 1, 240
"""Output rates outside this range are refused where they are typed: below 1 fps the
encoders' time bases (1/fps to the nearest 1/1001) break down, and no device shows them."""
CAMERA_KEY, FILE_KEY = "camera:", "file:"
EVERY_FRAME = "every"
AUTO = "auto"
MODEL_FPS_HELP = ("'every': the model on every frame it can take, only those go out; 'auto': the model as fast as "
                  "it can, every camera frame goes out (carried from the newest model frame along the motion); "
                  "a number: the same, the model capped at that many frames per second")


@dataclass(frozen=True)
class CameraSpec:
    """A camera by index ("0") or by part of its name ("logitech"), opened at this mode."""

    camera: str = "0"
    width: int = 1280
    height: int = 720
    fps: float = 30.0

    @property
    def key(self) -> str:
        """What the window remembers and lists (the mode is remembered on its own)."""
        return f"{CAMERA_KEY}{self.camera}"


@dataclass(frozen=True)
class FileSpec:
    """A video file standing in for a camera: paced at its own rate, looped."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def key(self) -> str:
        return f"{FILE_KEY}{self.path}"


SourceSpec = CameraSpec | FileSpec
"""What to open as the live picture; opened by :func:`app.live.sources.open_source`."""


def source_from_key(key: str, camera_mode: tuple[int, int, float] = (1280, 720, 30.0)) -> SourceSpec | None:
    """A remembered ``camera:SPEC``/``file:PATH`` back as a spec (None for anything else)."""
    if key.startswith(FILE_KEY) and len(key) > len(FILE_KEY):
        return FileSpec(Path(key[len(FILE_KEY):]))
    if key.startswith(CAMERA_KEY) and len(key) > len(CAMERA_KEY):
        return CameraSpec(key[len(CAMERA_KEY):], *camera_mode)
    return None


def check_output(width: int, height: int, fps: float) -> None:
    """Refuse a size or rate no device takes before anything is opened (``--output-fps 0``)."""
    if not (MIN_OUTPUT_FPS <= fps <= MAX_OUTPUT_FPS and width >= 2 and height >= 2):
        wanted = f"at least 2x2 pixels and {MIN_OUTPUT_FPS} <= fps <= {MAX_OUTPUT_FPS}"
        raise LiveToonError(f"output needs {wanted}, got {width}x{height} @ {fps:g} fps")


@dataclass(frozen=True)
class OutputSettings:
    """What the virtual camera, the stream and recordings carry: one size, one rate.

    OBS and Zoom break when a camera changes size, so every output letterboxes to this
    size and paces to this rate whatever the source and the model do.
    """

    width: int = 1280
    height: int = 720
    fps: float = 30.0

    def __post_init__(self) -> None:
        check_output(self.width, self.height, self.fps)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def parse_model_fps(text: str) -> str:
    """``every``, ``auto`` or a positive number of frames per second (normalized text)."""
    value = str(text).strip().lower()
    if value in (EVERY_FRAME, AUTO):
        return value
    try:
        fps = float(value)
    except ValueError:
        fps = 0.0
    if not 0.0 < fps <= 1000.0:
        raise LiveToonError(f"model fps must be 'every', 'auto' or a number of frames per second, got {text!r}")
    return f"{fps:g}"


@dataclass(frozen=True)
class LiveSettings:
    """Everything a user can change while the picture runs."""

    style: str = DEFAULT_STYLE
    mode: str = Mode.FULL.value
    strength: float = 1.0
    """The cartoon's blend with the camera picture: 1 = the full cartoon, 0 = the camera."""
    stability: float = DEFAULT_STABILITY
    """The stabilizer's weight on the previous output (flow.stabilize)."""
    max_size: int = DEFAULT_MAX_SIZE
    device: str = "auto"
    bypass: bool = False
    """The preview shows the camera picture unchanged; the outputs keep the cartoon."""
    raw_to_outputs: bool = False
    """With bypass on, the outputs get the raw camera too: an explicit choice, off by default and
    never remembered across restarts (app.gui.settings_store.NOT_REMEMBERED)."""
    mirror: bool = False
    model_fps: str = EVERY_FRAME
    """'every', 'auto' or a cap in frames per second (:func:`parse_model_fps`; the threads: app.live.pipeline)."""
    background: str = Kind.KEEP.value
    """What goes behind the person, as ``--background`` spells it (app.compositing)."""
    main_person_only: bool = True
    stylize_background: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_fps", parse_model_fps(self.model_fps))
        if not 0.0 <= self.strength <= 1.0:
            raise LiveToonError(f"strength must be in [0, 1], got {self.strength}")
        if not 0.0 <= self.stability <= 1.0:
            raise LiveToonError(f"stability must be in [0, 1], got {self.stability}")
        Mode(self.mode)

    def changed(self, **changes: object) -> LiveSettings:
        """A copy with ``changes``; an unknown name or a value of the wrong type is a
        TypeError here, at the caller (a bad value is a LiveToonError, as at construction)."""
        types = typing.get_type_hints(LiveSettings)
        for name, value in changes.items():
            if name not in types:
                raise TypeError(f"LiveSettings has no setting {name!r} (settings: {', '.join(types)})")
            if not _is_a(value, types[name]):
                raise TypeError(f"LiveSettings.{name} takes {types[name].__name__}, got {value!r}")
        return dataclasses.replace(self, **changes)


def _is_a(value: object, wanted: type) -> bool:
    """Strict field types: an int where a float goes is fine, a bool is never a number."""
    if isinstance(value, bool):
        return wanted is bool
    if wanted is float:
        return isinstance(value, (int, float))
    return isinstance(value, wanted)
