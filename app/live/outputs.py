"""The one registry of live outputs (like pyvirtualcam's ``BACKENDS``): each output's
name, how it opens from :class:`OutputSettings` and its own option, and its checks.

The command line and the window open outputs through :func:`open_output` only, and the
names here are the :class:`SinkSet`'s keys (the window's buttons, the badges, OBS's
rest logic): an output added here is added everywhere, and one named nowhere else
cannot drift apart from the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.errors import LiveToonError

from app.files.video_out import check_alpha_container
from app.live.audio import AudioTap
from app.live.microphone import NONE, open_microphone
from app.live.contracts import Sink
from app.live.ndi import DEFAULT_NDI_NAME, NdiSink, ndi_available
from app.live.record import AlphaRecordSink, RecordSink
from app.live.settings import OutputSettings
from app.live.shared_encoder import EncoderPool
from app.live.sinks import DEFAULT_STREAM_URL, VirtualCameraSink, stream_target
from app.live.stream import StreamSink

VIRTUAL_CAMERA, STREAM, NDI, RECORD = "virtual camera", "stream", "ndi", "record"


@dataclass(frozen=True)
class OutputRequest:
    """Everything opening an output may need: the shared size and rate, the output's own
    ``target`` (the stream's URL, the NDI source's name, the recording's path; None for the
    virtual camera), and what only a recording uses: the files it must never replace, whether
    it keeps the alpha, where the source's sound is heard, and which microphone it hears
    (:mod:`app.live.microphone`'s choices: ``auto``, ``none`` or a device). ``encoders``: where
    the stream and an H.264 recording find the encoder they share (the
    :class:`~app.live.sink_set.SinkSet`'s; None: each opens its own)."""

    settings: OutputSettings
    target: str | Path | None = None
    protect: Sequence[Path] = ()
    alpha: bool = False
    audio: AudioTap | None = None
    microphone: str = NONE
    encoders: EncoderPool | None = None


def nothing_to_check(request: OutputRequest) -> None:
    """The virtual camera has nothing to check before opening: opening it is the check."""


def check_stream(request: OutputRequest) -> None:
    stream_target(str(request.target))


def check_ndi(request: OutputRequest) -> None:
    missing = ndi_available()
    if missing:
        raise LiveToonError(missing)


def check_record(request: OutputRequest) -> None:
    """A transparent recording needs a container that keeps alpha: said before anything opens."""
    if request.alpha:
        check_alpha_container(Path(request.target))


def open_recording(request: OutputRequest) -> RecordSink | AlphaRecordSink:
    """A recording, hearing the microphone the request chooses (a missing one leaves the picture
    only and ``request.audio.problem`` says so: it never stops the recording); an H.264 one on
    the request's shared encoder, a transparent one on its own."""
    microphone = open_microphone(request.microphone, request.audio) if request.audio else None
    try:
        if request.alpha:
            return AlphaRecordSink(Path(request.target), request.settings, protect=request.protect,
                                   audio=request.audio, microphone=microphone)
        return RecordSink(Path(request.target), request.settings, protect=request.protect, audio=request.audio,
                          microphone=microphone, encoders=request.encoders)
    except BaseException:
        if microphone:
            microphone.close()
        raise


@dataclass(frozen=True)
class Output:
    """One registered output: how it opens, what it checks first, and what it is for."""

    name: str
    """Its key in the :class:`SinkSet` (and the window's button, the badge)."""
    opens: Callable[[OutputRequest], Sink]
    check: Callable[[OutputRequest], None]
    """Raises :class:`LiveToonError` with the reason when the request cannot work; cheap, opens nothing."""
    default_target: str | None
    """The option's value when the user names none (None: the output takes no option)."""
    feeds_obs: bool
    """It can feed OBS's LiveToon source: while only such outputs run, a hidden source lets the model rest."""


OUTPUTS: dict[str, Output] = {output.name: output for output in (
    Output(VIRTUAL_CAMERA, lambda request: VirtualCameraSink(request.settings), nothing_to_check, None, False),
    Output(STREAM, lambda request: StreamSink(str(request.target), request.settings, request.encoders), check_stream,
           DEFAULT_STREAM_URL, True),
    Output(NDI, lambda request: NdiSink(str(request.target), request.settings), check_ndi, DEFAULT_NDI_NAME, True),
    Output(RECORD, open_recording, check_record, None, False),
)}
"""Every output, in the order the command line opens them (the recording last: it is the
one that must not start when another output fails)."""


def open_output(name: str, request: OutputRequest) -> Sink:
    """The output called ``name``, checked and opened (a :class:`LiveToonError` says why not)."""
    output = OUTPUTS[name]
    output.check(request)
    return output.opens(request)
