"""What is on air, drawn on the preview: LIVE / REC / VCAM badges and a short note per hotkey.

Full screen is where a streamer watches, with the side panel hidden; a change made
there by hotkey (style, stability, bypass...) must be confirmed where the eyes are,
and whether the stream or recording runs must be visible without the panel.
"""

from __future__ import annotations

import time

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter

from app.live.outputs import NDI, RECORD, STREAM, VIRTUAL_CAMERA

NOTE_SECONDS = 2.0
BADGE_COLOURS = {"LIVE": QColor(211, 47, 47), "REC": QColor(198, 40, 40), "VCAM": QColor(21, 101, 192),
                 "NDI": QColor(106, 27, 154), "BYPASS": QColor(97, 97, 97), "RAW": QColor(229, 57, 53)}
OUTPUT_BADGES = {STREAM: "LIVE", RECORD: "REC", VIRTUAL_CAMERA: "VCAM", NDI: "NDI"}


def badges_for(outputs: list[str], bypass: bool, raw_to_outputs: bool = False) -> list[str]:
    """Badges in a fixed order for the running outputs (SinkSet names), plus BYPASS when on, and
    a red RAW while bypass may send the raw camera to the outputs."""
    names = [OUTPUT_BADGES[name] for name in OUTPUT_BADGES if name in outputs]
    return names + (["BYPASS"] if bypass else []) + (["RAW"] if raw_to_outputs else [])


class OnAirStatus:
    """The badges and the fading note; the preview paints it at its top right."""

    def __init__(self) -> None:
        self.badges: list[str] = []
        self.note = ""
        self.note_until = 0.0

    def say(self, text: str, seconds: float = NOTE_SECONDS) -> None:
        self.note, self.note_until = text, time.monotonic() + seconds

    @property
    def note_showing(self) -> str:
        """The note while it lasts, '' after."""
        return self.note if time.monotonic() < self.note_until else ""

    def paint(self, painter: QPainter, area: QRectF, font: QFont) -> None:
        font = QFont(font)
        font.setPointSize(11)
        font.setBold(True)
        painter.setFont(font)
        right = area.right() - 12
        for badge in reversed(self.badges):
            bounds = painter.boundingRect(QRectF(0, 0, 200, 40), int(Qt.AlignmentFlag.AlignCenter), badge)
            box = QRectF(right - bounds.width() - 16, area.top() + 12, bounds.width() + 16, bounds.height() + 8)
            painter.setBrush(BADGE_COLOURS.get(badge, QColor(60, 60, 60)))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), badge)
            right = box.left() - 6
        note = self.note_showing
        if note:
            font.setPointSize(16)
            painter.setFont(font)
            centre = int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            bounds = painter.boundingRect(area.adjusted(12, 56, -12, -12), centre, note)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 170))
            painter.drawRoundedRect(bounds.adjusted(-12, -6, 12, 6), 6, 6)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(bounds, centre, note)
