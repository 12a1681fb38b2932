"""Where the window's parts sit: the picture (the banner over the preview) beside the side
column (the settings' tabs, the first-run styles offer under them, a row of buttons).

Plain arrangement, apart from what the parts do: the window makes and wires them, and
these functions only place them, so a change of place touches no behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PyQt6.QtWidgets import QHBoxLayout, QPushButton, QTabWidget, QVBoxLayout, QWidget

from app.gui.controls import stacked


def tabbed(pages: Sequence[tuple[str, Sequence[QWidget]]]) -> QTabWidget:
    """One tab per ``(title, panels)``, its panels stacked in one column."""
    tabs = QTabWidget()
    for title, panels in pages:
        tabs.addTab(stacked(*panels), title)
    return tabs


def side_column(tabs: QWidget, under: QWidget, buttons: Sequence[tuple[str, Callable[[], object]]]) -> QWidget:
    """The tabs, ``under`` them (its coming and going moves no control), then a row of buttons."""
    column_widget = QWidget()
    column = QVBoxLayout(column_widget)
    column.addWidget(tabs, 1)
    column.addWidget(under)
    row = QHBoxLayout()
    for text, action in buttons:
        button = QPushButton(text)
        button.clicked.connect(action)
        row.addWidget(button)
    column.addLayout(row)
    return column_widget


def picture_beside(banner: QWidget, preview: QWidget, panel: QWidget) -> QWidget:
    """The banner over the preview, which takes every pixel the ``panel`` beside it leaves."""
    picture = QVBoxLayout()
    picture.setSpacing(0)
    picture.addWidget(banner)
    picture.addWidget(preview, 1)
    body = QWidget()
    layout = QHBoxLayout(body)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addLayout(picture, 1)
    layout.addWidget(panel)
    return body
