"""Live settings wished from any thread, taken up by the model thread before each frame.

The window's sliders and the CLI wish from their own threads while the model thread
runs the chain; a wish is only recorded here (checked by :meth:`LiveSettings.changed`)
and the model thread brings the chain in line before its next frame
(:class:`~app.live.session.LiveProcessor`). A wish it cannot carry out (a style that
does not load, a background file gone) is taken back here, so the window and the
settings in force agree again, unless a newer wish for the same thing came meanwhile.
"""

from __future__ import annotations

import dataclasses
import threading

from app.live.settings import LiveSettings


class Wishes:
    """The wished :class:`LiveSettings`, and those the chain was last brought in line with."""

    def __init__(self, settings: LiveSettings) -> None:
        self._lock = threading.Lock()
        self._wanted = settings
        self.active: LiveSettings | None = None
        """The settings in force (model thread only); None before the first frame."""

    @property
    def wanted(self) -> LiveSettings:
        with self._lock:
            return self._wanted

    def update(self, **changes: object) -> LiveSettings:
        """Wish for ``changes`` (names and types checked by :meth:`LiveSettings.changed`)."""
        with self._lock:
            self._wanted = self._wanted.changed(**changes)
            return self._wanted

    def take_back(self, failed: LiveSettings, compared: tuple[str, ...], **kept: object) -> None:
        """The wish ``failed`` could not be carried out: put ``kept`` back in its place, unless
        the wish has changed since in one of the ``compared`` fields (that newer one is tried next)."""
        with self._lock:
            if all(getattr(self._wanted, name) == getattr(failed, name) for name in compared):
                self._wanted = dataclasses.replace(self._wanted, **kept)
