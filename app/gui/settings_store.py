"""What the window remembers between runs (QSettings), and the reset to defaults.

Every key the window persists is named here and nowhere else, so a reader sees the
whole settings file in one place and a rename cannot miss a writer. Values are
validated on the way in: a settings file from an older version, or one edited by
hand, must never stop the window from opening; a bad value falls back to its default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from PyQt6.QtCore import QByteArray, QSettings

from common.errors import LiveToonError

from app.live.settings import LiveSettings, OutputSettings
from app.live.microphone import AUTO as AUTO_SOUND
from app.live.ndi import DEFAULT_NDI_NAME
from app.live.sinks import DEFAULT_STREAM_URL
from app.obs.client import DEFAULT_HOST as OBS_HOST, DEFAULT_PORT as OBS_PORT
from app.gui.preview import PreviewMode

ORGANIZATION = APPLICATION = "LiveToon"
LIVE_PREFIX = "live/"
"""One key per LiveSettings field: ``live/style``, ``live/strength``..."""
STYLES_OFFER_KEY = "first_run/styles_offer"
GEOMETRY_KEY = "window/geometry"
PREVIEW_KEY = "window/preview"
OUTPUT_SIZE_KEY, OUTPUT_FPS_KEY = "output/size", "output/fps"


@dataclass(frozen=True)
class TextSetting:
    """One persisted line of text and its default."""

    key: str
    default: str = ""

    def load(self, store: QSettings) -> str:
        return str(store.value(self.key, self.default))

    def save(self, store: QSettings, text: str) -> None:
        store.setValue(self.key, text)


SOURCE = TextSetting("window/source")
"""The last source: ``camera:N`` or ``file:PATH`` ('' when none)."""
STREAM_URL = TextSetting("window/stream_url", DEFAULT_STREAM_URL)
NDI_NAME = TextSetting("window/ndi_name", DEFAULT_NDI_NAME)
MICROPHONE = TextSetting("output/microphone", AUTO_SOUND)
"""What a recording hears: ``auto``, ``none``, ``default`` or a device's name (app.live.microphone)."""
OFFLINE_NOTE = TextSetting("first_run/offline_note")
"""Set once the "official styles: offline" note was shown: it is said once, not at every start."""
OBS_ADDRESS = TextSetting("window/obs_address", f"{OBS_HOST}:{OBS_PORT}")
"""OBS's WebSocket server, ``HOST:PORT``; its password is never stored (this file is plain text)."""
BACKGROUND_FILE = TextSetting("background/file")
"""The picture or video last chosen as the background, kept while another background is on."""
CAMERA_MODE = TextSetting("camera/mode")
"""The camera mode as its combo text (``camera 1280x720 @ 30 fps``), '' until one is chosen."""


def open_settings() -> QSettings:
    return QSettings(ORGANIZATION, APPLICATION)


def _coerce(value: object, default: object) -> object:
    """QSettings hands back strings from INI files; turn them into the default's type."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    return type(default)(value)


NOT_REMEMBERED = frozenset({"raw_to_outputs"})
"""LiveSettings fields that every start begins at their default: sending the raw camera to the
outputs must be chosen again each time, never carried over by a restart."""


def load_live_settings(store: QSettings) -> LiveSettings:
    defaults = LiveSettings()
    values = {}
    for field in dataclasses.fields(LiveSettings):
        if field.name in NOT_REMEMBERED:
            continue
        default = getattr(defaults, field.name)
        raw = store.value(LIVE_PREFIX + field.name, default)
        try:
            values[field.name] = _coerce(raw, default)
        except (TypeError, ValueError):
            values[field.name] = default
    try:
        return LiveSettings(**values)
    except (LiveToonError, ValueError):
        return defaults


def save_live_settings(store: QSettings, settings: LiveSettings) -> None:
    for field in dataclasses.fields(LiveSettings):
        if field.name in NOT_REMEMBERED:
            store.remove(LIVE_PREFIX + field.name)
        else:
            store.setValue(LIVE_PREFIX + field.name, getattr(settings, field.name))


def load_output_settings(store: QSettings) -> OutputSettings:
    """The outputs' size (``WIDTHxHEIGHT``) and rate; the defaults for anything unreadable."""
    default = OutputSettings()
    try:
        width, height = (int(side) for side in str(store.value(OUTPUT_SIZE_KEY, f"{default.width}x{default.height}")).split("x"))
        return OutputSettings(width, height, float(store.value(OUTPUT_FPS_KEY, default.fps)))
    except (TypeError, ValueError, LiveToonError):
        return default


def save_output_settings(store: QSettings, settings: OutputSettings) -> None:
    store.setValue(OUTPUT_SIZE_KEY, f"{settings.width}x{settings.height}")
    store.setValue(OUTPUT_FPS_KEY, settings.fps)


def is_first_run(store: QSettings) -> bool:
    """Nothing chosen yet: every start that got going saved its style (``save_live_settings``)."""
    return not store.contains(LIVE_PREFIX + "style")


def load_preview_mode(store: QSettings) -> PreviewMode:
    try:
        return PreviewMode(store.value(PREVIEW_KEY, PreviewMode.OUTPUT.value))
    except ValueError:
        return PreviewMode.OUTPUT


def save_preview_mode(store: QSettings, mode: PreviewMode) -> None:
    store.setValue(PREVIEW_KEY, mode.value)


def load_geometry(store: QSettings) -> QByteArray:
    """The window's size and place (``QWidget.saveGeometry``); empty on a first run."""
    value = store.value(GEOMETRY_KEY, QByteArray())
    return value if isinstance(value, QByteArray) else QByteArray()


def save_geometry(store: QSettings, geometry: QByteArray) -> None:
    store.setValue(GEOMETRY_KEY, geometry)


def styles_offer_shown(store: QSettings) -> bool:
    """Whether the first-run offer of the official styles was shown (it is shown once)."""
    return bool(store.value(STYLES_OFFER_KEY, ""))


def remember_styles_offer(store: QSettings, answer: str) -> None:
    """``shown``, then the user's ``download`` or ``declined``."""
    store.setValue(STYLES_OFFER_KEY, answer)


def reset(store: QSettings) -> None:
    store.clear()
    store.sync()
