"""Thumbnails of installed styles, rendered here on the user's own camera picture.

A style's name says little about its look, and a stock sample says little about how
it suits *you*; the camera picture on screen does both and costs no download. Each
style is run on a square around the main face at a small processing size, a fraction
of a second per style on a CPU, on a :class:`QThread` so the dialog and the preview
stay responsive; each picture appears as soon as it is done.
"""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal
from PyQt6.QtWidgets import QWidget

from dctnet.engine import Stylizer
from faces.finder import Face, FaceDetector
from dctnet.styles import StyleRegistry

log = logging.getLogger(__name__)
THUMBNAIL_PX = 80
RENDER_PX = 256
"""The square is stylized at this size: plenty for an 80 px picture, quick on a CPU."""
FACE_MARGIN = 2.4
"""The square's side in face sizes: the whole head and a little of the shoulders."""


def face_square(frame_bgr: np.ndarray, face: Face | None) -> np.ndarray:
    """The largest useful square of ``frame_bgr``: around the face when there is one, else the centre."""
    height, width = frame_bgr.shape[:2]
    if face is None:
        side, cx, cy = min(height, width), width / 2, height / 2
    else:
        side = min(height, width, max(int(face.size * FACE_MARGIN), 32))
        cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    left = int(np.clip(cx - side / 2, 0, width - side))
    top = int(np.clip(cy - side / 2, 0, height - side))
    return frame_bgr[top:top + side, left:left + side]


def render_thumbnail(stylizer: Stylizer, square_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
    return cv2.resize(stylizer.stylize(square_bgr, faces), (THUMBNAIL_PX, THUMBNAIL_PX), interpolation=cv2.INTER_AREA)


class ThumbnailThread(QThread):
    """Renders the named styles on one camera picture, one ``rendered`` signal per style.

    Stopping is checked between styles, so ``stop`` returns within one render (well
    under a second on a CPU at :data:`RENDER_PX`).
    """

    rendered = pyqtSignal(str, object)  # style name, THUMBNAIL_PX square BGR image

    def __init__(self, registry: StyleRegistry, names: list[str], picture_bgr: np.ndarray,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry, self.names = registry, names
        self.picture = picture_bgr.copy()  # the preview keeps replacing its frame
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        self.wait()

    def run(self) -> None:
        try:
            with FaceDetector(static_image_mode=True) as detector:
                found = detector.detect(self.picture)
                square = cv2.resize(face_square(self.picture, found[0] if found else None), (RENDER_PX, RENDER_PX),
                                    interpolation=cv2.INTER_AREA)
                faces = detector.detect(square)
            for name in self.names:
                if self._stop.is_set():
                    return
                stylizer = Stylizer.from_style(self.registry.get(name), max_size=RENDER_PX, cuda_graphs=False)
                self.rendered.emit(name, render_thumbnail(stylizer, square, faces))
        except Exception:  # a thumbnail is a nicety: never let it take the dialog down
            log.exception("style thumbnails could not be rendered")
