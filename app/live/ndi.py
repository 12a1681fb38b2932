"""NDI® output: the cartoon with its alpha, for OBS's DistroAV (obs-ndi) plugin and other NDI receivers.

NDI is the one live output that carries transparency: the frames go out as BGRA, so a
streamer's cut-out cartoon lands over the game in OBS without a chroma key. It sits
behind the same pacer as the other outputs (fixed size, steady rate, the last frame
repeated while the model works, the "camera lost" slate), so receivers see a source
that never stalls; the NDI library's own clock is off (``clock_video=False``), since
the pacer already keeps the time and two clocks would halve the rate.

``cyndilib`` (whose wheels bundle the NDI runtime) is an optional extra:
``pip install "livetoon[ndi]"``. Without it, asking for NDI fails in one line that
says so. NDI® is a registered trademark of Vizrt NDI AB (https://ndi.video/).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from common.errors import LiveToonError

from app.live.settings import OutputSettings
from app.live.sinks import PacedSink
from app.workers import first_line

DEFAULT_NDI_NAME = "LiveToon"
INSTALL_HINT = 'pip install "livetoon[ndi]"'


def ndi_available() -> str | None:
    """None when NDI can be used, else why not (one line, with the fix)."""
    try:
        import cyndilib  # noqa: F401 - only whether it loads
    except (ImportError, OSError) as exc:  # not installed, or its bundled NDI runtime does not load here
        return f"NDI needs the optional cyndilib package ({first_line(exc)}); to install it: {INSTALL_HINT}"
    return None


class NdiSink(PacedSink):
    """An NDI source called ``name`` sending BGRA frames at ``fps``.

    Receivers list it as ``HOST (name)``. On networks without multicast (where mDNS
    discovery finds nothing), a receiver finds it through an NDI configuration file
    that names this machine's address (``NDI_CONFIG_DIR``, see ``docs/obs.md``).
    """

    kind = "NDI"
    carries_alpha = True

    def __init__(self, name: str = DEFAULT_NDI_NAME, output: OutputSettings = OutputSettings()) -> None:
        if not name.strip():
            raise LiveToonError("NDI source name must not be empty")
        missing = ndi_available()
        if missing:
            raise LiveToonError(missing)
        from cyndilib.sender import Sender
        from cyndilib.video_frame import VideoSendFrame
        from cyndilib.wrapper.ndi_structs import FourCC

        self.name = name
        self.receivers = 0
        """Receivers connected, as last counted on the pacer's thread (the only one that touches the sender)."""
        self.frames_sent = 0
        """Counted here, not read from the pacer: its thread starts sending inside its constructor,
        before ``self.pacer`` is assigned."""
        frame = VideoSendFrame()
        frame.set_resolution(output.width, output.height)
        frame.set_fourcc(FourCC.BGRA)
        frame.set_frame_rate(Fraction(output.fps).limit_denominator(1001))
        self.sender = Sender(name, clock_video=False)
        self.sender.set_video_frame(frame)
        try:
            self.sender.open()
        except Exception as exc:  # noqa: BLE001 - cyndilib raises plain Exceptions from the NDI runtime
            raise LiveToonError(f"cannot start the NDI source {name!r}: {first_line(exc)}") from exc
        super().__init__(output, f"{name!r} ({output.width}x{output.height} @ {output.fps:g} fps, BGRA with alpha)")

    def _send(self, frame: np.ndarray) -> None:
        self.sender.write_video(np.ascontiguousarray(frame).reshape(-1))
        self.frames_sent += 1
        if self.frames_sent % max(1, round(self.output.fps)) == 0:  # about once a second, on this thread
            self.receivers = self.sender.get_num_connections(0)

    def _release(self) -> None:
        self.sender.close()

    @property
    def status(self) -> str:
        """Also how many receivers are watching (OBS counts as one once its source shows it)."""
        if self.error:
            return self.error
        return f"{self.kind}: {self.description}, {self.receivers} receiver{'s' * (self.receivers != 1)}"
