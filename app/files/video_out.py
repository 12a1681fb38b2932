"""Writing the cartoon video with PyAV, every audio stream of the source carried over.

* Video: H.264 (libx264) or H.265 (libx265), yuv420p, ``crf``/``preset``. With
  ``alpha`` (``--background transparent``) the container picks a codec that keeps
  the alpha plane: ``.mov`` ProRes 4444 (``prores_ks`` profile 4, yuva444p10le) and
  ``.webm`` VP9 (``libvpx-vp9``, yuva420p); both play with transparency in OBS's
  Media Source, and any other container is refused before anything is written. Each frame
  keeps the source's timestamp in the source's time base, so variable frame rate and
  A/V sync survive. (The muxer may pick a finer time base, e.g. MP4 turns 1/24 into
  1/12288; times stay exact. Matroska counts milliseconds, so there they round to
  the nearest ms.) Odd sizes are *padded* by one replicated row/column (yuv420p
  needs even sizes; padding loses no picture, cropping would).
* Audio: every audio stream is copied packet by packet when the output container
  takes its codec (``COPYABLE_AUDIO``; no quality loss), else decoded and encoded
  to AAC. Both keep the source's timestamps (PyAV rescales each packet to its output
  stream's time base), which is what keeps audio and video in sync. Audio is muxed
  as the video advances, so memory stays bounded on long files.
* Safety: everything goes to a hidden ``.NAME.<unique>.tmp.EXT`` beside the target
  (``output_safety``: unique per run, the real extension so FFmpeg picks the right
  muxer); encoder options are checked when the writer opens, before any frame;
  ``close`` renames it into place,
  ``abort_partial`` keeps a playable ``NAME.partial.EXT``, ``discard`` deletes it.
  Nothing half-written ever sits under the final name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from common.errors import LiveToonError

from app import interrupts
from app.files.output_safety import claim_partial_name, refuse_overwriting, temporary_beside
from app.files.sound_track import SoundTrack
from app.workers import first_line

VIDEO_CODECS = {"h264": "libx264", "h265": "libx265"}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
"""x264's and x265's speed presets (the same names in both)."""
MIN_CRF, MAX_CRF = 0, 51
WRITABLE_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v")
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
ALPHA_SUFFIXES = (".mov", ".webm")
"""Containers whose codec here keeps an alpha plane (ProRes 4444, VP9 with alpha)."""
FAST_PRESETS = PRESETS[:3]
"""Presets fast enough for a live recording: VP9 then encodes in real-time mode."""


def check_alpha_container(path: Path) -> None:
    """A transparent video needs a container whose codec keeps alpha; refuse the others in one line."""
    suffix = Path(path).suffix.lower()
    if suffix not in ALPHA_SUFFIXES:
        raise LiveToonError(f"{path}: {suffix or 'an extension-less file'} cannot carry transparency; "
                            f"write .mov (ProRes 4444) or .webm (VP9 with alpha)")


def alpha_codec(suffix: str, crf: int, preset: str) -> tuple[str, str, dict[str, str]]:
    """(encoder, pixel format, options) keeping the alpha plane for a ``suffix`` file.

    ProRes 4444 is intra-only and near-lossless, so it has no quality knob worth
    exposing; VP9 takes ``crf`` as its constant quality (0-63, lower is better) and a
    fast ``preset`` as its real-time mode (live recordings)."""
    if suffix == ".mov":
        return "prores_ks", "yuva444p10le", {"profile": "4"}
    fast = preset in FAST_PRESETS
    return "libvpx-vp9", "yuva420p", {"crf": str(crf), "b": "0", "row-mt": "1",
                                      "deadline": "realtime" if fast else "good", "cpu-used": "8" if fast else "4"}
STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


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


def even(n: int) -> int:
    return n + (n % 2)


def check_encoder_options(codec: str, crf: int, preset: str) -> None:
    """Refuse a codec, quality or preset the encoder would refuse, before any work starts."""
    if codec not in VIDEO_CODECS:
        raise LiveToonError(f"unknown video codec {codec!r}; choose one of {', '.join(VIDEO_CODECS)}")
    if not MIN_CRF <= crf <= MAX_CRF:
        raise LiveToonError(f"--crf must be between {MIN_CRF} and {MAX_CRF}, got {crf}")
    if preset not in PRESETS:
        raise LiveToonError(f"unknown --preset {preset!r}; choose one of {', '.join(PRESETS)}")


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


class FinishAbandoned(LiveToonError):
    """Ctrl-C pressed again while a file was being finished: it was deleted instead."""


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
        protect: Iterable[Path] = (),
        alpha: bool = False,
        sound: bool = False,
        encoded_by: av.VideoStream | None = None,
    ) -> None:
        """``protect``: the run's inputs, which this file must never replace (the audio source always is one).
        ``alpha``: frames are BGRA and the file keeps their alpha (``.mov`` or ``.webm`` only).
        ``sound``: a live sound track (``self.sound``) that the caller fills and finishes.
        ``encoded_by``: the stream of an encoder shared with other outputs: this file takes its
        packets (:meth:`write_packet`, its parameters copied), and has no encoder of its own."""
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        check_encoder_options(codec, crf, preset)
        self.alpha = alpha
        if alpha:
            check_alpha_container(self.path)
        elif suffix == ".webm":
            raise LiveToonError(f"{self.path}: WebM takes only VP8/VP9/AV1 video; write .mp4, .mkv or .mov "
                                f"(or use .webm with --background transparent)")
        elif suffix not in WRITABLE_SUFFIXES:
            raise LiveToonError(f"{self.path}: cannot write {suffix or 'extension-less'} videos; "
                                f"use one of {', '.join(WRITABLE_SUFFIXES)}")
        refuse_overwriting([self.path], [*protect, *([audio_source] if audio_source is not None else [])])
        self.temp = temporary_beside(self.path)  # fails now for a missing or read-only folder
        self.width, self.height = width, height
        self.time_base = time_base
        self.frames = 0
        self.last_end = 0.0  # seconds: where the last written frame ends
        self.step = float(1 / rate)
        try:
            self.container = av.open(str(self.temp), mode="w")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self.temp.unlink(missing_ok=True)
            raise LiveToonError(f"cannot write {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
        self.audio: AudioCarrier | None = None
        self.sound: SoundTrack | None = None
        self.encodes = encoded_by is None
        try:
            if encoded_by is not None:
                self.stream = self.container.add_stream_from_template(encoded_by)
            else:
                self._add_encoder(codec, crf, preset, rate)
            if audio_source is not None:
                self.audio = AudioCarrier(Path(audio_source), self.container, suffix)
            if sound:
                self.sound = SoundTrack(self.container, suffix)
            self.container.start_encoding()  # opens the encoders: bad options fail before the first frame
        except (ValueError, av.error.FFmpegError) as exc:  # the container refuses the codec, the encoder an option
            self.discard()
            raise LiveToonError(f"cannot write {self.path}: {first_line(exc)}") from exc
        except BaseException:
            self.discard()
            raise

    def _add_encoder(self, codec: str, crf: int, preset: str, rate: Fraction) -> None:
        suffix = self.path.suffix.lower()
        encoder, pix_fmt, options = (alpha_codec(suffix, crf, preset) if self.alpha else
                                     (VIDEO_CODECS[codec], "yuv420p", {"crf": str(crf), "preset": preset}))
        self.stream = self.container.add_stream(encoder, rate=rate)
        self.stream.width, self.stream.height = even(self.width), even(self.height)
        self.stream.pix_fmt = pix_fmt
        self.stream.time_base = self.stream.codec_context.time_base = self.time_base
        self.stream.options = options

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode one frame shown at ``pts`` (in ``time_base``), and the audio before it:
        BGR, or BGRA for a writer made with ``alpha``."""
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame {image.shape[1]}x{image.shape[0]} != video {self.width}x{self.height}")
        channels = 4 if self.alpha else 3
        if image.shape[2] != channels:
            raise ValueError(f"frame has {image.shape[2]} channels, this {'alpha ' * self.alpha}video takes {channels}")
        if self.width % 2 or self.height % 2:
            image = np.pad(image, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(image, format="bgra" if self.alpha else "bgr24")
        frame.pts, frame.time_base = pts, self.time_base
        self._mux_video(self.stream.encode(frame), float(pts * self.time_base))

    def write_packet(self, packet: av.Packet) -> None:
        """Mux one packet of the shared encoder (``encoded_by``), its ``pts`` already this file's."""
        assert packet.pts is not None and packet.time_base is not None
        packet.stream = self.stream
        self._mux_video([packet], float(packet.pts * packet.time_base))

    def _mux_video(self, packets: list[av.Packet], start: float) -> None:
        """The video of the frame shown at ``start`` (seconds), and the audio before it."""
        with self.disk_errors():
            if self.audio:
                self.audio.mux_until(start)  # the muxer interleaves; the video encoder lags anyway
            self.container.mux(packets)
        self.frames += 1
        self.last_end = start + self.step

    @contextlib.contextmanager
    def disk_errors(self) -> Iterator[None]:
        """Turn a write failure (disk full, file too large) into one message, temp file removed:
        around every write of this file, the live sound track's (``sound``, filled by the caller) too."""
        try:
            yield
        except OSError as exc:
            self.discard()
            raise LiveToonError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def _give_up_if_hurried(self) -> None:
        if interrupts.hurry():
            raise FinishAbandoned(f"interrupted again while finishing {self.path}: nothing kept")

    def _finalize(self, audio_until: float | None) -> None:
        """Flush and close the file. Any failure, or a second Ctrl-C between the steps
        (a flush is one uninterruptible call), deletes it instead: a file is either
        complete or gone."""
        try:
            with self.disk_errors():
                self._give_up_if_hurried()
                if self.encodes:
                    self.container.mux(self.stream.encode(None))
                if self.audio:
                    self._give_up_if_hurried()
                    self.audio.mux_until(audio_until)
                    self.audio.finish()
                self._give_up_if_hurried()
                self.container.close()
        except BaseException as exc:
            self.discard()
            if isinstance(exc, av.error.FFmpegError):
                raise LiveToonError(f"cannot finish {self.path}: {first_line(exc)}") from exc
            raise

    def _move_to(self, target: Path) -> Path:
        with self.disk_errors():
            self.temp.replace(target)
        return target

    def close(self) -> Path:
        """Flush the encoders, mux the remaining audio, and move the file to its final name."""
        self._finalize(None)
        return self._move_to(self.path)

    def abort_partial(self) -> Path:
        """Finish what was written (audio cut where the last frame ends) as ``NAME.partial.EXT``,
        or ``NAME.partial-2.EXT``... when that name is taken (:func:`claim_partial_name`)."""
        self._finalize(self.last_end)
        target = claim_partial_name(self.path)
        try:
            return self._move_to(target)
        except BaseException:
            target.unlink(missing_ok=True)  # our own empty claim, never someone's file
            raise

    def audio_shortfall(self) -> float:
        """Seconds by which the shortest audio stream ends before the video (0 when none does)."""
        if not self.audio or not self.audio.ends:
            return 0.0
        return max(0.0, self.last_end - min(self.audio.ends.values()))

    def discard(self) -> None:
        """Drop everything written; nothing is left on disk."""
        if self.audio:
            self.audio.close()
        try:
            self.container.close()
        except (av.error.FFmpegError, OSError, ValueError):
            pass  # already broken; the temporary file goes either way
        self.temp.unlink(missing_ok=True)
