"""Keyboard shortcuts: one table drives both the bindings and the help dialog.

Single keys without modifiers, because streamers press them mid-show, often from a
macro pad; they work anywhere in the window except while typing in a text field.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app.live.outputs import RECORD, STREAM, VIRTUAL_CAMERA
from app.live.settings import LiveSettings

HOTKEYS: tuple[tuple[str, str, str], ...] = (
    ("B", "toggle_bypass", "bypass: the preview shows the camera picture (the outputs keep the cartoon)"),
    ("N", "next_style", "next style"),
    ("P", "previous_style", "previous style"),
    ("Up", "stability_up", "more temporal stability (+0.1)"),
    ("Down", "stability_down", "less temporal stability (-0.1)"),
    ("M", "toggle_mirror", "mirror the picture"),
    ("R", "toggle_record", "start / stop recording"),
    ("V", "toggle_virtual_camera", "start / stop the virtual camera"),
    ("S", "toggle_stream", "start / stop the UDP stream"),
    ("F", "toggle_full_screen", "full screen (Esc leaves it)"),
    ("Tab", "next_preview_mode", "preview: output / side by side / split"),
    ("F1", "show_help", "this list"),
)


def hotkey_note(action: str, settings: LiveSettings, preview_mode: str, outputs: set[str]) -> str:
    """The line the preview shows after a hotkey: the state it left ('' for help and full screen).

    ``outputs`` names the outputs running now (SinkSet names)."""
    on_off = {True: "on", False: "off"}
    notes = {
        "toggle_bypass": f"bypass {on_off[settings.bypass]}",
        "toggle_mirror": f"mirror {on_off[settings.mirror]}",
        "next_style": f"style: {settings.style}",
        "previous_style": f"style: {settings.style}",
        "stability_up": f"stability {settings.stability:.1f}",
        "stability_down": f"stability {settings.stability:.1f}",
        "next_preview_mode": f"preview: {preview_mode}",
        "toggle_record": f"recording {on_off[RECORD in outputs]}",
        "toggle_stream": f"stream {on_off[STREAM in outputs]}",
        "toggle_virtual_camera": f"virtual camera {on_off[VIRTUAL_CAMERA in outputs]}",
    }
    return notes.get(action, "")


def help_text() -> str:
    rows = "".join(f"<tr><td><b>{key}</b></td><td>&nbsp;&nbsp;{text}</td></tr>" for key, _, text in HOTKEYS)
    return f"<table>{rows}</table>"


class HotkeyHelp(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("LiveToon hotkeys")
        layout = QVBoxLayout(self)
        label = QLabel(help_text())
        label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
