"""A message above the preview, with a "Copy command" button when there is a fix to run.

Fix-its used to land as many lines of raw text in the side panel, pushing the panel's
buttons out of sight and staying after the problem was gone. The banner shows the
reason in one sentence, wrapped when the picture is narrow, and under it the steps of
the fix (readable without hovering; the whole text is in the tooltip too). *Copy command*
hands the fix's commands, given as data (:class:`~app.fix_it.FixIt`), to the clipboard
and says "Copied". The banner goes away when dismissed or when the window clears it.
"""

from __future__ import annotations

import re

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (QApplication, QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout,
                             QWidget)

from app.fix_it import FIX_MARK, FixIt

COPY_TEXT, COPIED_TEXT = "Copy command", "Copied"
COPIED_MS = 2000
INFO_STYLE = "QFrame#banner { background: #1e3a5f; } QLabel { color: white; }"
PROBLEM_STYLE = "QFrame#banner { background: #7a3b00; } QLabel { color: white; }"


def first_sentence(text: str) -> str:
    """Libraries explain at length ("Did you run...? See also..."); the first sentence says what failed."""
    sentence = re.split(r"(?<=[.?!])\s", text.strip(), maxsplit=1)[0]
    return sentence + ")" * (sentence.count("(") - sentence.count(")"))


def split_fix(message: str) -> tuple[str, str]:
    """``"reason; to fix it: how"`` -> (the reason's first sentence, how); without a fix, how is ""."""
    reason, _, fix = message.partition(FIX_MARK)
    return first_sentence(reason), fix


class MessageBanner(QFrame):
    """Hidden until ``show_problem`` or ``show_info``; one message at a time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel("")
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window
        self.text.setWordWrap(True)  # a line longer than the picture is wide goes on, rather than being cut off
        self.steps = QLabel("")
        """The fix, under the reason: read without hovering, and selectable."""
        self.steps.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.steps.setWordWrap(True)
        self.steps.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton(COPY_TEXT)
        self.copy_button.clicked.connect(self.copy_command)
        self._copied_timer = QTimer(self, singleShot=True, interval=COPIED_MS,
                                    timeout=lambda: self.copy_button.setText(COPY_TEXT))
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.clicked.connect(lambda: self.clear())
        words = QVBoxLayout()
        words.setSpacing(2)
        words.addWidget(self.text)
        words.addWidget(self.steps)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        layout.addLayout(words, 1)
        layout.addWidget(self.copy_button)
        layout.addWidget(self.dismiss_button)
        self.command = ""
        self.kind = ""
        self.hide()

    def show_problem(self, message: str, fix_it: FixIt | None = None) -> None:
        """A failure: its reason in one line, its fix's steps under it (numbered, from ``fix_it`` when
        given), and ``fix_it``'s commands behind "Copy command"."""
        reason, fix = split_fix(message)
        whole, _, _ = message.partition(FIX_MARK)
        self._show("problem", reason, f"{whole}\n\nTo fix it: {fix}" if fix else whole,
                   fix_it.script if fix_it else "")
        self.steps.setText(f"To fix it:\n{fix_it.numbered}" if fix_it else f"To fix it: {fix}" if fix else "")
        self.steps.setVisible(bool(fix))

    def show_info(self, message: str) -> None:
        self._show("info", message, message, "")
        self.steps.hide()

    def _show(self, kind: str, line: str, whole: str, command: str) -> None:
        self.kind, self.command = kind, command
        self.text.setText(line)
        self.setToolTip(whole)
        self.setStyleSheet(PROBLEM_STYLE if kind == "problem" else INFO_STYLE)
        self.copy_button.setVisible(bool(command))
        self.copy_button.setText(COPY_TEXT)
        self.show()

    def copy_command(self) -> None:
        """The commands to the clipboard, and "Copied" on the button for a moment."""
        QApplication.clipboard().setText(self.command)
        self.copy_button.setText(COPIED_TEXT)
        self._copied_timer.start()

    def clear(self, kind: str | None = None) -> None:
        """Hide the message (only one of ``kind`` when given)."""
        if kind is None or kind == self.kind:
            self.kind, self.command = "", ""
            self.hide()
