"""What the window remembers between runs (QSettings), and the reset to defaults.

Values are validated on the way in: a settings file from an older version, or one
edited by hand, must never stop the window from opening; a bad value falls back
to its default.
"""

from __future__ import annotations

import dataclasses

from PyQt6.QtCore import QSettings

from dctnet.errors import LiveToonError

from app.live.settings import LiveSettings
from app.gui.preview import PreviewMode

ORGANIZATION = APPLICATION = "LiveToon"
STYLES_OFFER_KEY = "first_run/styles_offer"


def open_settings() -> QSettings:
    return QSettings(ORGANIZATION, APPLICATION)


def _coerce(value: object, default: object) -> object:
    """QSettings hands back strings from INI files; turn them into the default's type."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    return type(default)(value)


def load_live_settings(store: QSettings) -> LiveSettings:
    defaults = LiveSettings()
    values = {}
    for field in dataclasses.fields(LiveSettings):
        default = getattr(defaults, field.name)
        raw = store.value(f"live/{field.name}", default)
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
        store.setValue(f"live/{field.name}", getattr(settings, field.name))


def load_preview_mode(store: QSettings) -> PreviewMode:
    try:
        return PreviewMode(store.value("window/preview", PreviewMode.OUTPUT.value))
    except ValueError:
        return PreviewMode.OUTPUT


def load_source(store: QSettings) -> str:
    """The last source: ``camera:SPEC`` or ``file:PATH`` ('' when none)."""
    return str(store.value("window/source", ""))


def styles_offer_shown(store: QSettings) -> bool:
    """Whether the first-run offer of the official styles was shown (it is shown once)."""
    return bool(store.value(STYLES_OFFER_KEY, ""))


def remember_styles_offer(store: QSettings, answer: str) -> None:
    """``shown``, then the user's ``download`` or ``declined``."""
    store.setValue(STYLES_OFFER_KEY, answer)


def reset(store: QSettings) -> None:
    store.clear()
    store.sync()
