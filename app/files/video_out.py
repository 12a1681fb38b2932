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
* Audio: every audio stream of the source, copied or transcoded by
  :class:`~app.files.audio_carry.AudioCarrier` as the video advances; or a live
  recording's own track (:class:`~app.files.sound_track.SoundTrack`).
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
from app.files.audio_carry import AudioCarrier
from app.files.output_safety import claim_partial_name, refuse_overwriting, temporary_beside
from app.files.sound_track import SoundTrack
from app.workers import first_line

VIDEO_CODECS = {"h264": "libx264", "h265": "libx265"}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
"""x264's and x265's speed presets (the same names in both)."""
MIN_CRF, MAX_CRF = 0, 51
WRITABLE_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v")
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
