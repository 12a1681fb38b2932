"""A one-line message above the preview, with a "Copy command" button when there is a fix to run.

Fix-its used to land as many lines of raw text in the side panel, pushing the panel's
buttons out of sight and staying after the problem was gone. The banner shows the
reason in one sentence, wrapped when the picture is narrow (the whole text in its tooltip), hands the shell commands to the
clipboard, and goes away when dismissed or when the window clears it.
"""

from __future__ import annotations

import re

from PyQt6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

FIX_MARK = "; to fix it: "
INFO_STYLE = "QFrame#banner { background: #1e3a5f; } QLabel { color: white; }"
PROBLEM_STYLE = "QFrame#banner { background: #7a3b00; } QLabel { color: white; }"


def shell_commands(fix: str) -> str:
    """The `quoted` commands in a fix-it text, joined to run one after the other."""
    return " && ".join(re.findall(r"`([^`]+)`", fix))


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
        self.copy_button = QPushButton("Copy command")
        self.copy_button.clicked.connect(self.copy_command)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.clicked.connect(lambda: self.clear())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.copy_button)
        layout.addWidget(self.dismiss_button)
        self.command = ""
        self.kind = ""
        self.hide()

    def show_problem(self, message: str) -> None:
        """A failure: its reason in one line; a fix's commands behind "Copy command"."""
        reason, fix = split_fix(message)
        whole, _, _ = message.partition(FIX_MARK)
        self._show("problem", reason, f"{whole}\n\nTo fix it: {fix}" if fix else whole, shell_commands(fix))

    def show_info(self, message: str) -> None:
        self._show("info", message, message, "")

    def _show(self, kind: str, line: str, whole: str, command: str) -> None:
        self.kind, self.command = kind, command
        self.text.setText(line)
        self.setToolTip(whole)
        self.setStyleSheet(PROBLEM_STYLE if kind == "problem" else INFO_STYLE)
        self.copy_button.setVisible(bool(command))
        self.show()

    def copy_command(self) -> None:
        QApplication.clipboard().setText(self.command)

    def clear(self, kind: str | None = None) -> None:
        """Hide the message (only one of ``kind`` when given)."""
        if kind is None or kind == self.kind:
            self.kind, self.command = "", ""
            self.hide()
