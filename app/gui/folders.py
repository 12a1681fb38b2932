"""Where the window looks for videos and puts recordings: the user's Videos folder.

Both start from the same place so a recording is found where the Open dialog starts;
neither ever points into the clone (the working directory of ``python main.py``).
"""

from __future__ import annotations

import time
from pathlib import Path

from PyQt6.QtCore import QStandardPaths

from common.errors import LiveToonError

from app.paths import ensure_folder


def movies_location() -> Path:
    """The platform's Videos folder, whether or not it exists yet (home when the platform has none)."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation) or Path.home())


def videos_folder() -> Path:
    """Where people keep videos, and where recordings go: the Videos folder, made when missing
    (a fresh account has none, and the dialog then opened in home); home only when it cannot be made."""
    folder = movies_location()
    try:
        ensure_folder(folder)
    except LiveToonError:
        return Path.home()
    return folder


def recording_path(suffix: str = ".mp4") -> Path:
    """A new file in the user's Videos folder, made if missing (a fresh account has none);
    ``suffix`` ``.webm`` for a recording that keeps the transparency."""
    folder = movies_location()
    ensure_folder(folder)  # here a failure is the recording's: it says why
    path = folder / time.strftime(f"livetoon-%Y%m%d-%H%M%S{suffix}")
    number = 1
    while path.exists():  # two recordings within a second
        number += 1
        path = folder / time.strftime(f"livetoon-%Y%m%d-%H%M%S-{number}{suffix}")
    return path
