"""The window's yes/cancel questions: Cancel is the default, so a stray Enter never resets or
closes anything, and the answer arrives through a signal, so the picture keeps moving while
the question is open."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtWidgets import QMessageBox, QWidget

from app.live.outputs import RECORD


def close_question(outputs: list[str]) -> str:
    """What the close button asks while ``outputs`` (SinkSet names) are on."""
    kept = " The recording is finished and kept." if RECORD in outputs else ""
    return f"On now: {', '.join(outputs)}. Close LiveToon and stop {'it' if len(outputs) == 1 else 'them'}?{kept}"


def ask(parent: QWidget, title: str, text: str, yes: QMessageBox.StandardButton,
        on_yes: Callable[[], object]) -> QMessageBox:
    """Open the question window-modal and return it; only the ``yes`` button runs ``on_yes``."""
    question = QMessageBox(QMessageBox.Icon.Question, title, text, yes | QMessageBox.StandardButton.Cancel, parent)
    question.setDefaultButton(QMessageBox.StandardButton.Cancel)
    button = question.button(yes)
    question.finished.connect(lambda _: question.clickedButton() is button and on_yes())
    question.open()
    return question
