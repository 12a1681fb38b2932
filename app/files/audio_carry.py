"""A source file's audio carried into the cartoon video: every stream copied packet by
packet when the output container takes its codec (no quality loss), else decoded and
encoded (AAC, or Opus in WebM). Both keep the source's timestamps, which is what keeps
audio and video in sync; audio is muxed as the video advances, so memory stays bounded
on long files. Apart from :mod:`app.files.video_out` because it is a second input file
with its own failures (a damaged audio packet names the source and the time)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from common.errors import LiveToonError

STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
"""A transcoded stream's channel layout, by channel count (a source's odd layout is not always encodable)."""
MP4_FAMILY_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})
COPYABLE_AUDIO: dict[str, frozenset[str] | None] = {
    ".mp4": MP4_FAMILY_AUDIO,
    ".m4v": MP4_FAMILY_AUDIO,
    # QuickTime plays PCM natively (MP4 players mostly do not: there it is transcoded).
    ".mov": MP4_FAMILY_AUDIO | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be"},
    ".mkv": None,  # Matroska takes any codec
}
"""Audio codecs each container takes as they are (None: any); other containers get AAC.

WebM (only with alpha, as VP9) takes Opus or Vorbis; other audio is transcoded to Opus."""
WEBM_AUDIO = frozenset({"opus", "vorbis"})


def audio_is_copyable(suffix: str, codec_name: str) -> bool:
    """Whether a ``codec_name`` audio stream goes into a ``suffix`` file unchanged.

    ``codec_name`` is the codec's own (canonical) name, ``mp3``, never a decoder's
    (``mp3float``, ``aac_fixed``, ``libopus``): the container takes the codec, whoever decodes it."""
    if suffix == ".webm":
        return codec_name in WEBM_AUDIO
    if suffix not in COPYABLE_AUDIO:
        return False
    accepted = COPYABLE_AUDIO[suffix]
    return accepted is None or codec_name in accepted


class AudioCarrier:
    """Moves every audio stream of a source file into the output, copied or transcoded."""

    def __init__(self, source: Path, output: av.container.OutputContainer, suffix: str) -> None:
        try:
            self.input = av.open(str(source))
        except (av.error.FFmpegError, OSError) as exc:
            raise LiveToonError(f"{source}: cannot read its audio ({exc})") from exc
        self.routes: dict[int, tuple[av.stream.Stream, bool]] = {}
        try:
            for stream in self.input.streams.audio:
                if audio_is_copyable(suffix, stream.codec_context.codec.canonical_name):
                    out = output.add_stream_from_template(stream)
                    self.routes[stream.index] = (out, True)
                else:
                    self.routes[stream.index] = (self._transcoded_stream(output, stream, suffix), False)
        except BaseException:
            self.input.close()
            raise
        self.output = output
        self.packets: Iterator[av.Packet] | None = (
            self.input.demux(*self.input.streams.audio) if self.routes else None
        )
        self.pending: av.Packet | None = None
        self.shifts: dict[int, int] = {}
        self.last_end_ts: dict[int, int] = {}
        """Per source audio stream: the timestamp shift and where the last packet ends (its time base)."""
        self.ends: dict[int, float] = {index: 0.0 for index in self.routes}
        """Per source audio stream: where the last muxed packet ends, in seconds."""

    @staticmethod
    def _transcoded_stream(output: av.container.OutputContainer, stream: av.stream.Stream,
                           suffix: str) -> av.stream.Stream:
        """AAC (Opus in WebM, at 48 kHz, the rate Opus is made for: the encoder resamples)
        with the source's channel count in a standard layout (PCM sources often carry an
        unordered "2 channels" layout the encoder refuses)."""
        source = stream.codec_context
        if suffix == ".webm":
            out = output.add_stream("libopus", rate=48000)
        else:
            out = output.add_stream("aac", rate=source.sample_rate or 48000)
        out.layout = STANDARD_LAYOUTS.get(min(source.layout.nb_channels or 2, 8), "stereo")
        return out

    def mux_until(self, seconds: float | None) -> None:
        """Mux the source's audio that starts before ``seconds`` (all of it when None)."""
        while self.packets is not None:
            packet, fresh = (self.pending, False) if self.pending else (next(self.packets, None), True)
            self.pending = None
            if packet is None:
                self.packets = None
                return
            if packet.dts is None and packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            if fresh:
                self._go_on(packet)
            start = float(packet.pts * packet.time_base) if packet.pts is not None else None
            if seconds is not None and start is not None and start >= seconds:
                self.pending = packet
                return
            self._route(packet)

    def _go_on(self, packet: av.Packet) -> None:
        """Timestamps that start again (two recordings joined end to end) go on from where
        the stream was, as the reader does for the video, so both stay in step."""
        if packet.pts is None:
            return
        index = packet.stream.index
        shift = self.shifts.get(index, 0)
        previous_end = self.last_end_ts.get(index)
        if previous_end is not None and packet.pts + shift < previous_end - (packet.duration or 0):
            shift = self.shifts[index] = previous_end - packet.pts
        packet.pts += shift
        if packet.dts is not None:
            packet.dts += shift
        self.last_end_ts[index] = packet.pts + (packet.duration or 0)

    def _route(self, packet: av.Packet) -> None:
        if packet.pts is not None:
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            self.ends[packet.stream.index] = max(self.ends[packet.stream.index], end)
        out, copy = self.routes[packet.stream.index]
        if copy:
            packet.stream = out  # mux rescales pts/dts from the source's time base
            self.output.mux(packet)
            return
        try:
            frames = packet.decode()  # frames keep the source pts and time base
        except av.error.InvalidDataError as exc:
            at = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
            raise LiveToonError(f"{self.input.name}: audio damaged at {at:.2f} s ({exc})") from exc
        for frame in frames:
            self.output.mux(out.encode(frame))

    def finish(self) -> None:
        """Flush the AAC encoders and close the source."""
        for out, copy in self.routes.values():
            if not copy:
                self.output.mux(out.encode(None))
        self.input.close()

    def close(self) -> None:
        self.input.close()
