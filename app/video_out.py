"""Writing the cartoon video with PyAV, every audio stream of the source carried over.

* Video: H.264 (libx264) or H.265 (libx265), yuv420p, ``crf``/``preset``; each frame
  keeps the source's timestamp in the source's time base, so variable frame rate and
  A/V sync survive. Odd sizes are padded by one replicated row/column (yuv420p needs
  even sizes; nothing of the picture is lost).
* Audio: every audio stream is copied packet by packet when the output container
  accepts its codec (no quality loss), else transcoded to AAC (Opus for WebM).
  Audio is muxed as the video advances, so memory stays bounded on long files.
* Safety: everything goes to a hidden temporary file beside the target; ``close``
  renames it into place, ``abort_partial`` keeps a playable ``NAME.partial.EXT``,
  ``discard`` deletes it. Nothing half-written ever sits under the final name.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dctnet.errors import LiveToonError

VIDEO_CODECS = {"h264": "libx264", "h265": "libx265"}
COPYABLE_AUDIO = {
    ".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    ".m4v": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    ".mov": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac", "pcm_s16le", "pcm_s24le"},
    ".webm": {"opus", "vorbis"},
}
"""Audio codecs each container takes as they are; ``.mkv`` takes any."""
STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def audio_is_copyable(suffix: str, codec_name: str) -> bool:
    return suffix == ".mkv" or codec_name in COPYABLE_AUDIO.get(suffix, set())


def even(n: int) -> int:
    return n + (n % 2)


class AudioCarrier:
    """Moves every audio stream of a source file into the output, copy or transcode."""

    def __init__(self, source: Path, output: av.container.OutputContainer, suffix: str) -> None:
        self.input = av.open(str(source))
        self.output = output
        self.routes: dict[int, tuple[av.stream.Stream, bool]] = {}
        for stream in self.input.streams.audio:
            if audio_is_copyable(suffix, stream.codec_context.name):
                out = output.add_stream_from_template(stream)
                self.routes[stream.index] = (out, True)
            else:
                self.routes[stream.index] = (self._transcoded_stream(stream, suffix), False)
        self.packets: Iterator[av.Packet] | None = (
            self.input.demux(*self.input.streams.audio) if self.routes else None
        )
        self.pending: av.Packet | None = None

    def _transcoded_stream(self, stream: av.stream.Stream, suffix: str) -> av.stream.Stream:
        """AAC (Opus for WebM) with the source's channel count in a standard layout
        (PCM sources often carry an unordered "2 channels" layout encoders refuse)."""
        codec = "libopus" if suffix == ".webm" else "aac"
        channels = min(stream.codec_context.layout.nb_channels or 2, 2 if codec == "libopus" else 8)
        out = self.output.add_stream(codec, rate=48000 if codec == "libopus" else stream.codec_context.sample_rate or 48000)
        out.layout = STANDARD_LAYOUTS.get(channels, "stereo")
        return out

    def mux_until(self, seconds: float | None) -> None:
        """Mux audio up to ``seconds`` (all of it when None)."""
        while self.packets is not None:
            packet = self.pending or next(self.packets, None)
            self.pending = None
            if packet is None:
                self.packets = None
                break
            if packet.dts is None and packet.size == 0:
                continue  # demuxer flush packet
            time = float(packet.pts * packet.time_base) if packet.pts is not None else None
            if seconds is not None and time is not None and time > seconds:
                self.pending = packet
                return
            self._route(packet)

    def _route(self, packet: av.Packet) -> None:
        out, copy = self.routes[packet.stream.index]
        if copy:
            packet.stream = out
            self.output.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None  # the encoder counts samples; streams start together
            self.output.mux(out.encode(frame))

    def finish(self) -> None:
        for out, copy in self.routes.values():
            if not copy:
                self.output.mux(out.encode(None))
        self.input.close()


class VideoWriter:
    """Encode frames (with their timestamps) and the source's audio into ``path``."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        rate: Fraction,
        time_base: Fraction,
        codec: str = "h264",
        crf: int = 18,
        preset: str = "medium",
        audio_source: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if codec not in VIDEO_CODECS:
            raise LiveToonError(f"unknown video codec {codec!r}; choose one of {', '.join(VIDEO_CODECS)}")
        self.temp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self.width, self.height = width, height
        try:
            self.container = av.open(str(self.temp), mode="w")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise LiveToonError(f"cannot write {self.path}: {exc}") from exc
        try:
            self.stream = self.container.add_stream(VIDEO_CODECS[codec], rate=rate)
            self.stream.width, self.stream.height = even(width), even(height)
            self.stream.pix_fmt = "yuv420p"
            self.stream.time_base = time_base
            self.stream.codec_context.time_base = time_base
            self.stream.options = {"crf": str(crf), "preset": preset}
            self.audio = AudioCarrier(audio_source, self.container, self.suffix) if audio_source else None
        except BaseException:
            self.container.close()
            self.temp.unlink(missing_ok=True)
            raise
        self.time_base = time_base
        self.frames = 0
        self.last_time = 0.0

    def write(self, image_bgr: np.ndarray, pts: int) -> None:
        if image_bgr.shape[:2] != (self.height, self.width):
            raise LiveToonError(f"frame size {image_bgr.shape[1]}x{image_bgr.shape[0]} != video size {self.width}x{self.height}")
        if self.width % 2 or self.height % 2:
            image_bgr = np.pad(image_bgr, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(image_bgr, format="bgr24")
        frame.pts = pts
        frame.time_base = self.time_base
        self.last_time = float(pts * self.time_base)
        try:
            if self.audio:
                self.audio.mux_until(self.last_time)  # the muxer interleaves; the encoder lags anyway
            self.container.mux(self.stream.encode(frame))
        except OSError as exc:
            raise LiveToonError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self.frames += 1

    def _finalize(self, audio_until: float | None) -> None:
        try:
            self.container.mux(self.stream.encode(None))
            if self.audio:
                self.audio.mux_until(audio_until)
                self.audio.finish()
            self.container.close()
        except OSError as exc:
            self.discard()
            raise LiveToonError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> Path:
        """Finish the file and move it to its final name."""
        self._finalize(None)
        self.temp.replace(self.path)
        return self.path

    def abort_partial(self) -> Path:
        """Finish what was written (audio cut at the last frame) as ``NAME.partial.EXT``."""
        self._finalize(self.last_time)
        partial = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        self.temp.replace(partial)
        return partial

    def discard(self) -> None:
        try:
            self.container.close()
        except (av.error.FFmpegError, OSError, ValueError):
            pass  # already broken; the temporary file goes either way
        self.temp.unlink(missing_ok=True)
