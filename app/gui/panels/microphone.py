"""The Outputs tab's microphone choice: which sound a recording carries.

The list is the sound server's own (:func:`app.live.microphone.microphones`), read
again each time it opens, so a headset plugged in after the window started is
there. A remembered device that is not plugged in now stays chosen, by its name: a
recording then says in one line that it is missing and keeps the picture.
"""

from __future__ import annotations

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QComboBox

from app.live.microphone import AUTO, DEFAULT, NONE, microphones
from app.gui import settings_store
from app.gui.controls import select_or_add

FIXED_CHOICES = ((AUTO, "Automatic: a video file's sound, else the default microphone"),
                 (DEFAULT, "Default microphone"))
NO_SOUND = (NONE, "None: the picture only")


class MicrophoneChoice(QComboBox):
    """The choice, remembered (``settings_store.MICROPHONE``)."""

    def __init__(self, store: QSettings) -> None:
        super().__init__()
        self.store = store
        # long device names must not widen the tab (a narrow window would gain a scrollbar)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        self.setToolTip("The sound a recording carries, in sync with the picture. "
                        "Heard only while a recording runs.")
        self._fill(settings_store.MICROPHONE.load(store))
        self.activated.connect(lambda: settings_store.MICROPHONE.save(self.store, self.choice))

    @property
    def choice(self) -> str:
        """``auto``, ``none``, ``default`` or a device name."""
        return str(self.currentData())

    def device_name(self) -> str:
        """What the sound server calls the chosen device ('' for the choices that name none)."""
        return "" if self.choice in (AUTO, DEFAULT, NONE) else self.currentText()

    def _fill(self, choice: str) -> None:
        self.clear()
        for device, text in (*FIXED_CHOICES, *microphones(), NO_SOUND):
            self.addItem(text, device)
        select_or_add(self, choice, f"{choice} (not found now)")

    def showPopup(self) -> None:  # noqa: N802 - Qt's name
        """The list as the sound server has it now."""
        self._fill(self.choice)
        super().showPopup()

    def reset(self) -> None:
        self._fill(AUTO)
        settings_store.MICROPHONE.save(self.store, AUTO)
