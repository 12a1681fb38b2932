"""Recording the live output to a video file, paced like the other outputs.

A recording holds what the virtual camera and the stream show: the output size
(letterboxed) at the output's steady frame rate, the newest cartoon frame repeated
while the model works on the next, and the "camera lost" slate while the camera is
gone. It starts at the first cartoon frame (no black lead-in). It has a constant frame
rate: every tick of its pacer writes one frame, its timestamp the tick's index, and a
tick missed while the encoder was slow is written late with the newest frame repeated,
never skipped (editors and players expect a steady rate; a skipped tick was a visible
gap, up to 0.8 s under load: issue 27).

An H.264 recording (:class:`RecordSink`) rides the shared encoder of
:mod:`app.live.shared_encoder`: beside a stream of the same size and rate each frame is
encoded once for both. A transparent one (:class:`AlphaRecordSink`: ProRes 4444 or VP9)
has its pacer and encoder of its own.

Given the :class:`~app.live.audio.AudioTap` of its outputs while a source is heard (a
file's own audio), a recording carries that sound too, delayed by the measured video
latency so it stays in sync with the picture (:class:`~app.live.audio.SyncedSound`);
with nothing heard it is a silent film, and its status says so. A microphone heard for
it (:mod:`app.live.microphone`) is the recording's: closed when the recording finishes.

The file is opened when the sink is made, so a bad path (missing or read-only
folder, ``/proc``, an unknown extension, the live input itself) fails before the
session goes live, and it appears under its name only once finished
(:class:`VideoWriter` writes to a unique temporary name). Closing waits for the
encoder to finish, at most :data:`FINISH_SECONDS`; a second Ctrl-C meanwhile drops
the recording instead (the writer checks between its finishing steps), so what is
left is a complete file or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from app import interrupts
from app.live.audio import AudioTap, SyncedSound
from app.live.microphone import Microphone
from app.live.settings import OutputSettings
from app.live.shared_encoder import EncoderPool, FeedOutput
from app.live.sinks import CONSTANT_RATE, PacedSink, PacerTiming
from app.files.video_out import VideoWriter

FINISH_SECONDS = 20.0
"""The longest a recording may take to finish (the encoder's flush, the audio-less mux)."""


class RecordingFile:
    """A recording's file and sound, whichever encoder makes its picture: written on one
    thread (the pacer's or the shared encoder's), finished or deleted at the end."""

    def __init__(self, path: Path, output: OutputSettings, protect: Iterable[Path], alpha: bool,
                 audio: AudioTap | None, microphone: Microphone | None,
                 encoded_by: av.VideoStream | None = None) -> None:
        self.path = Path(path)
        self.microphone = microphone
        self.saved: Path | None = None
        self.result = ""
        rate = Fraction(output.fps).limit_denominator(1001)
        self.writer = VideoWriter(self.path, output.width, output.height, rate, 1 / rate, preset="veryfast", crf=20,
                                  protect=protect, alpha=alpha, sound=bool(audio and audio.label),
                                  encoded_by=encoded_by)
        self.sound = SyncedSound(audio, self.writer.sound) if audio and self.writer.sound else None
        self.heard = audio.label if self.sound and audio else ""
        self.description = (f"{self.path} ({output.width}x{output.height} @ {output.fps:g} fps, "
                            f"{'with ' + self.heard if self.heard else 'no sound'})")

    def hear_until(self, at: float) -> None:
        """The sound that belongs before recording time ``at`` (s), the frame there just written."""
        if self.sound:
            self.sound.follow(self.sound.tap.newest, at, self.writer.step)
            with self.writer.disk_errors():
                self.sound.place_until(at)

    def finish(self, failed: bool) -> None:
        """Finish the file; a failed or abandoned one is deleted."""
        if self.microphone:
            self.microphone.close()
        if self.sound:
            self.sound.tap.stop_listening(self.sound.listener)
        if failed or interrupts.hurry() or not self.writer.frames:
            self.writer.discard()
            self.result = "recording dropped (Ctrl-C pressed again)" if self.writer.frames else "nothing recorded"
            return
        if self.sound:
            with self.writer.disk_errors():
                self.sound.finish(self.writer.last_end)
        self.saved = self.writer.close()
        self.result = f"recorded {self.writer.frames} frames to {self.saved}"

    def abandon(self) -> None:
        """It did not finish in time: nothing is kept."""
        self.writer.temp.unlink(missing_ok=True)


class RecordSink(FeedOutput):
    """A live output that records H.264 to ``path`` at a fixed size and rate, on the shared
    encoder of ``encoders`` (the :class:`~app.live.sink_set.SinkSet`'s; None: one of its own)."""

    kind = "recording"
    constant_rate = True
    waits_for_picture = True
    close_seconds = FINISH_SECONDS

    def __init__(self, path: Path, output: OutputSettings = OutputSettings(), protect: Iterable[Path] = (),
                 audio: AudioTap | None = None, timing: PacerTiming = PacerTiming(),
                 microphone: Microphone | None = None, encoders: EncoderPool | None = None) -> None:
        """``protect``: the session's inputs (a looped file), which the recording must never replace.
        ``audio``: where the source's sound is heard; recorded when something is (``audio.label``).
        ``timing``: the pacer's clock (a test's own). ``microphone``: heard into ``audio`` for this recording."""
        pool = encoders or EncoderPool()
        with pool.feed_for(output, timing) as feed:
            self.file = RecordingFile(path, output, protect, False, audio, microphone, encoded_by=feed.stream)
            self.path = self.file.path
            super().__init__(feed, pool, self.file.description)

    @property
    def saved(self) -> Path | None:
        return self.file.saved

    def mux(self, packet: av.Packet) -> None:
        at = float(packet.pts * packet.time_base)
        self.file.writer.write_packet(packet)
        self.file.hear_until(at)

    def release(self) -> None:
        self.file.finish(failed=self.error is not None)

    @property
    def status(self) -> str:
        return self.error or self.file.result or super().status

    def close(self) -> None:
        """Stop and finish the file; at most :data:`FINISH_SECONDS`, less after a second Ctrl-C."""
        if not self._stopped():
            self.fail(f"did not finish within {FINISH_SECONDS:g} s; nothing kept")
            self.file.abandon()


class AlphaRecordSink(PacedSink):
    """A live output that records the cut-out person's transparency too, with its own pacer and
    encoder (``.webm``: VP9 in real-time mode, which keeps up with a live picture on a laptop;
    ``.mov``: ProRes 4444, heavier)."""

    kind = "recording"
    carries_alpha = True

    def __init__(self, path: Path, output: OutputSettings = OutputSettings(), protect: Iterable[Path] = (),
                 audio: AudioTap | None = None, timing: PacerTiming = PacerTiming(),
                 microphone: Microphone | None = None) -> None:
        """As :class:`RecordSink`'s."""
        self.file = RecordingFile(path, output, protect, True, audio, microphone)
        self.path = self.file.path
        super().__init__(output, self.file.description, hold_until_first=True, catch_up=CONSTANT_RATE, timing=timing)

    @property
    def saved(self) -> Path | None:
        return self.file.saved

    def _send(self, frame: np.ndarray) -> None:
        tick = self.pacer.frames_out  # this frame's tick: the pacer counts it once written
        self.file.writer.write(frame, tick)
        self.file.hear_until(float(tick * self.file.writer.time_base))

    def _release(self) -> None:
        """Finish the file (on the pacer's thread)."""
        self.file.finish(failed=self.pacer.error is not None)

    @property
    def status(self) -> str:
        return self.error or self.file.result or super().status

    def close(self) -> None:
        """Stop and finish the file; at most :data:`FINISH_SECONDS`, less after a second Ctrl-C."""
        if not self.pacer.close(FINISH_SECONDS):
            self.pacer.fail(f"did not finish within {FINISH_SECONDS:g} s; nothing kept")
            self.file.abandon()
