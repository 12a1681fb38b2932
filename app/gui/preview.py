"""The preview: the cartoon, the camera picture beside it, or both split, with an overlay.

Painting is the only thing the GUI thread does per frame; frames arrive as numpy
BGR arrays and are wrapped (not copied) into a QImage for the paint.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt, QTimer
from PyQt6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPaintEvent, QPen, QPixmap, QResizeEvent
from PyQt6.QtWidgets import QPushButton, QSizePolicy, QWidget

from app.gui.on_air import NOTE_SECONDS, OnAirStatus


CHECKER_SQUARE = 12
"""Side in screen pixels of the checkerboard drawn under a transparent output."""


class PreviewMode(str, enum.Enum):
    OUTPUT = "output"
    SIDE_BY_SIDE = "side by side"
    SPLIT = "split"


def to_qimage(bgr: np.ndarray) -> QImage:
    """A QImage over the array's memory (BGR888 is native in Qt 6: no colour conversion)."""
    bgr = np.ascontiguousarray(bgr)
    height, width = bgr.shape[:2]
    image = QImage(bgr.data, width, height, bgr.strides[0], QImage.Format.Format_BGR888)
    image.keep_alive = bgr  # the buffer must outlive the QImage
    return image


def bgra_qimage(bgra: np.ndarray) -> QImage:
    """A QImage over a BGRA array (straight alpha): ARGB32 is B, G, R, A in memory on little-endian hosts."""
    bgra = np.ascontiguousarray(bgra)
    height, width = bgra.shape[:2]
    image = QImage(bgra.data, width, height, bgra.strides[0], QImage.Format.Format_ARGB32)
    image.keep_alive = bgra
    return image


def checkerboard(square: int = CHECKER_SQUARE) -> QBrush:
    """The usual "transparent here" pattern: light and mid grey squares, tiled."""
    tile = QPixmap(2 * square, 2 * square)
    tile.fill(QColor(204, 204, 204))
    painter = QPainter(tile)
    painter.fillRect(0, 0, square, square, QColor(153, 153, 153))
    painter.fillRect(square, square, square, square, QColor(153, 153, 153))
    painter.end()
    return QBrush(tile)


def fit(width: int, height: int, box: QRectF) -> QRectF:
    """The largest rectangle of this aspect centred in ``box``."""
    scale = min(box.width() / width, box.height() / height)
    w, h = width * scale, height * scale
    return QRectF(box.x() + (box.width() - w) / 2, box.y() + (box.height() - h) / 2, w, h)


class PreviewWidget(QWidget):
    """Shows the latest (original, output) pair in the chosen mode."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = PreviewMode.OUTPUT
        self.original: np.ndarray | None = None
        self.output: np.ndarray | None = None
        self.output_bgra: np.ndarray | None = None
        """With a transparent background: the output with its alpha, drawn over a checkerboard."""
        self.overlay = ""
        self.message = "No source: pick a camera, open a video file, or drop one here"
        self.frames_shown = 0
        self.on_air = OnAirStatus()
        self.bypass = False
        """The output is the camera picture: its side is labelled "bypass", not "cartoon"."""
        self.action_button = QPushButton(self)
        """Under a message that asks for something ("open a video file"), the button that does it."""
        self.action_button.hide()
        self._action: Callable[[], None] = lambda: None
        self.action_button.clicked.connect(lambda: self._action())
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAutoFillBackground(False)

    def show_frame(self, original: np.ndarray, output: np.ndarray, output_bgra: np.ndarray | None = None) -> None:
        self.original, self.output, self.output_bgra = original, output, output_bgra
        self.message = ""
        self.action_button.hide()
        self.frames_shown += 1
        self.update()

    def show_message(self, text: str, action: tuple[str, Callable[[], None]] | None = None) -> None:
        """A line over the picture (camera lost, loading a style...); empty clears it. ``action``
        (its text, what it does): a button under the line, for a message that asks the user to act."""
        self.message = text
        self.action_button.hide()
        if action is not None:
            self.action_button.setText(action[0])
            self._action = action[1]
            self.action_button.adjustSize()
            self._place_action()
            self.action_button.show()
        self.update()

    def _place_action(self) -> None:
        """Centred, under the message (which is drawn at the centre)."""
        button = self.action_button
        button.move((self.width() - button.width()) // 2, self.height() // 2 + 30)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        self._place_action()
        super().resizeEvent(event)

    def say(self, text: str) -> None:
        """A short note at the top that fades after two seconds (a hotkey's change)."""
        self.on_air.say(text)
        self.update()
        QTimer.singleShot(int(NOTE_SECONDS * 1000) + 50, self.update)

    def set_badges(self, badges: list[str]) -> None:
        if badges != self.on_air.badges:
            self.on_air.badges = badges
            self.update()

    @property
    def output_label(self) -> str:
        return "bypass" if self.bypass else "cartoon"

    def set_mode(self, mode: PreviewMode) -> None:
        self.mode = PreviewMode(mode)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(18, 18, 22))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self.output is not None and self.original is not None:
            self._paint_frames(painter, QRectF(self.rect()))
        if self.overlay:
            self._paint_text(painter, self.overlay, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, 11)
        if self.message:
            self._paint_text(painter, self.message, Qt.AlignmentFlag.AlignCenter, 15)
        self.on_air.paint(painter, QRectF(self.rect()), self.font())
        painter.end()

    def _paint_frames(self, painter: QPainter, box: QRectF) -> None:
        out, orig = self.output, self.original
        height, width = out.shape[:2]
        if self.mode is PreviewMode.SIDE_BY_SIDE:
            half = box.width() / 2
            left = fit(width, height, QRectF(box.x(), box.y(), half, box.height()))
            right = fit(width, height, QRectF(box.x() + half, box.y(), half, box.height()))
            painter.drawImage(left, to_qimage(orig))
            self._draw_output(painter, right)
            self._label(painter, left, "camera")
            self._label(painter, right, self.output_label)
            return
        target = fit(width, height, box)
        self._draw_output(painter, target)
        if self.mode is PreviewMode.SPLIT and orig.shape == out.shape:
            half = QRectF(target.x(), target.y(), target.width() / 2, target.height())
            painter.drawImage(half, to_qimage(orig), QRectF(0, 0, width / 2, height))
            painter.setPen(QPen(QColor(255, 255, 255, 200), 2))
            middle = target.x() + target.width() / 2
            painter.drawLine(QPointF(middle, target.top()), QPointF(middle, target.bottom()))
            self._label(painter, half, "camera")
            self._label(painter, half.translated(half.width(), 0), self.output_label)

    def _draw_output(self, painter: QPainter, target: QRectF) -> None:
        """The output; a transparent one over a checkerboard, so the cut-out shows as it will in OBS."""
        bgra = self.output_bgra
        if bgra is None or bgra.shape[:2] != self.output.shape[:2]:
            painter.drawImage(target, to_qimage(self.output))
            return
        painter.save()
        painter.setBrushOrigin(target.topLeft())
        painter.fillRect(target, checkerboard())
        painter.restore()
        painter.drawImage(target, bgra_qimage(bgra))

    def _label(self, painter: QPainter, area: QRectF, text: str) -> None:
        """Which side is which, at the bottom of each picture."""
        bounds = painter.boundingRect(area.adjusted(0, 0, 0, -10), int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom), text)
        painter.fillRect(bounds.adjusted(-6, -2, 6, 2), QColor(0, 0, 0, 150))
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(bounds, int(Qt.AlignmentFlag.AlignCenter), text)

    def _paint_text(self, painter: QPainter, text: str, align: Qt.AlignmentFlag, size: int) -> None:
        font = QFont(self.font())
        font.setPointSize(size)
        painter.setFont(font)
        bounds = painter.boundingRect(QRectF(self.rect()).adjusted(12, 12, -12, -12), int(align), text)
        painter.fillRect(bounds.adjusted(-8, -5, 8, 5), QColor(0, 0, 0, 160))
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(bounds, int(align), text)
