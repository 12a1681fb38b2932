"""Small controls the window's panels are built from: a slider that shows its value and
jumps where it is clicked, a combo that keeps a saved value off its list, and a label
that shortens its text with "..." rather than push its neighbours out of a narrow window.

Qt's slider moves one page per click on its track, which reads as "broken" to people
used to web and OBS sliders, and shows no number, so 0.7 vs 0.8 was a guess.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QMouseEvent, QPainter, QPaintEvent
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QSlider, QStyle, QStyleOptionSlider, QVBoxLayout, QWidget


class JumpSlider(QSlider):
    """A horizontal slider whose track click sets the value under the pointer (then drags on)."""

    def __init__(self, maximum: int) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.setRange(0, maximum)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() == Qt.MouseButton.LeftButton:
            option = QStyleOptionSlider()
            self.initStyleOption(option)
            groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                                 QStyle.SubControl.SC_SliderGroove, self)
            handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                                 QStyle.SubControl.SC_SliderHandle, self)
            span = groove.width() - handle.width()
            position = round(event.position().x()) - groove.x() - handle.width() // 2
            self.setValue(QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), position, span))
        super().mousePressEvent(event)  # the handle is now under the pointer: a drag continues from here


class ElidedLabel(QLabel):
    """A one-line label that gives up width first: its text shortened in the middle, whole in
    its tooltip. At 700 px the status bar's long source name cut the frame rate beside it."""

    def __init__(self, text: str = "") -> None:
        super().__init__(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.fontMetrics().horizontalAdvance("..." * 4), super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle, self.contentsRect().width())
        QPainter(self).drawText(self.contentsRect(), int(self.alignment()), shown)


class ValueSlider(JumpSlider):
    """A JumpSlider with its value as text beside it; ``row`` holds both for a form."""

    def __init__(self, maximum: int, on_change: Callable[[int], None], shown: Callable[[int], str]) -> None:
        super().__init__(maximum)
        self.shown = shown
        self.value_label = QLabel(shown(maximum))
        self.value_label.setMinimumWidth(self.value_label.sizeHint().width())
        self.valueChanged.connect(self.show_value)
        self.valueChanged.connect(on_change)
        self.row = QWidget()
        layout = QHBoxLayout(self.row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self, 1)
        layout.addWidget(self.value_label)

    def show_value(self) -> None:
        """Also called after a quiet ``setValue`` (signals blocked while loading settings)."""
        self.value_label.setText(self.shown(self.value()))


class SidePanel(QScrollArea):
    """The controls column: ``width`` wide when there is room, down to ``minimum`` (then it
    scrolls) so the window fits half a screen; the preview takes everything else."""

    def __init__(self, content: QWidget, width: int, minimum: int) -> None:
        super().__init__()
        self.width_wanted = width
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setMinimumWidth(minimum)
        self.setMaximumWidth(width)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(self.width_wanted, super().sizeHint().height())


def stacked(*panels: QWidget) -> QWidget:
    """Panels one under the other at the top of a page, the rest left empty."""
    page = QWidget()
    column = QVBoxLayout(page)
    column.setContentsMargins(2, 6, 2, 2)  # the tab's own frame already sets the page in
    for panel in panels:
        column.addWidget(panel)
    column.addStretch(1)
    return page


def select_or_add(combo: QComboBox, value: object, text: str) -> None:
    """Select the item holding ``value``; a saved value that is not in the list is added as
    ``text``, so a hand-edited or older setting is shown and kept rather than lost."""
    index = combo.findData(value)
    if index < 0:
        combo.addItem(text, value)
        index = combo.count() - 1
    combo.setCurrentIndex(index)
