"""The model rests while OBS hides LiveToon's source: the watcher of OBS and the rule.

OBS counts, per source, where it is *showing*: the program scene, the preview scene of
studio mode, a projector, the multiview, and a scene or group nested in any of those.
obs-websocket reports that count's changes as ``InputShowStateChanged`` (a high-volume
event, asked for by its own bit) and answers it now as ``GetSourceActive``'s
``videoShowing``. So one flag covers every way the source can be seen.

The rule: rest only when OBS says plainly that the source shows nowhere *and* every
running output feeds this OBS (the stream or NDI source that ``obs add`` made; with the
virtual camera on, a call may be using it, and a recording must go on). In doubt it
stays awake: before the first answer, after OBS quits or the connection drops, and
when the source is removed or renamed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from app.live.outputs import OUTPUTS
from app.live.rest import RestGate
from app.obs.add_source import SOURCE_NAME
from app.obs.client import RESOURCE_NOT_FOUND, ObsClient, ObsError, ObsRequestError

INPUTS_EVENTS = 1 << 3  # EventSubscription::Inputs: InputRemoved, InputNameChanged
SHOW_STATE_EVENTS = 1 << 18  # EventSubscription::InputShowStateChanged (high volume: asked for by name)
OBS_OUTPUTS = frozenset(name for name, output in OUTPUTS.items() if output.feeds_obs)
"""The outputs that can feed OBS's LiveToon source (the SinkSet's names)."""


def only_obs_outputs(running: list[str]) -> bool:
    """At least one output, and each one feeds OBS: a virtual camera or a recording keeps the model awake."""
    return bool(running) and set(running) <= OBS_OUTPUTS


class RestWhileHidden:
    """Connects to OBS and rests ``gate`` while OBS hides the source and the outputs allow it.

    ``running()`` names the outputs on now; call ``update()`` when they change (OBS's events
    call it themselves). ``on_change(resting, showing)`` hears each change of ``resting``, on
    whichever thread made it, with OBS's word at that moment (None: not known, OBS gone).
    """

    def __init__(self, gate: RestGate, running: Callable[[], list[str]], host: str, port: int,
                 password: str | None, on_change: Callable[[bool, bool | None], None] | None = None,
                 enabled: bool = True) -> None:
        self.gate, self.running, self.on_change = gate, running, on_change
        self._enabled = enabled
        self._lock = threading.Lock()
        self.showing: bool | None = None
        """OBS's word on the source: shown somewhere, shown nowhere, or None (not known: stay awake)."""
        self.client = ObsClient(host, port, password, events=INPUTS_EVENTS | SHOW_STATE_EVENTS,
                                on_event=self._event, on_close=lambda: self._set_showing(None))
        try:
            state = self.client.request("GetSourceActive", {"sourceName": SOURCE_NAME})
        except ObsRequestError as exc:
            self.client.close()
            if exc.code == RESOURCE_NOT_FOUND:
                raise ObsError(f"OBS has no source {SOURCE_NAME!r} to watch: run `livetoon obs add` first") from None
            raise
        self._set_showing(bool(state["videoShowing"]))

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, on: bool) -> None:
        self._enabled = on
        self.update()

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        if data.get("inputName") != SOURCE_NAME:
            return
        if kind == "InputShowStateChanged":
            self._set_showing(bool(data["videoShowing"]))
        elif kind in ("InputRemoved", "InputNameChanged"):
            self._set_showing(None)

    def _set_showing(self, showing: bool | None) -> None:
        self.showing = showing
        self.update()

    def update(self) -> None:
        """Apply the rule now (after OBS's word or the outputs changed)."""
        with self._lock:
            rest = self._enabled and self.showing is False and only_obs_outputs(self.running())
            changed = rest != self.gate.resting
            self.gate.rest(rest)
        if changed and self.on_change is not None:
            self.on_change(rest, self.showing)

    def close(self) -> None:
        """Stop watching; the model wakes (the connection's end is a doubt)."""
        self.client.close()
        self._set_showing(None)
