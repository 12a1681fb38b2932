"""Sound for recordings: a file source's own audio, placed in sync with the recorded picture.

The picture a recording holds is late: the frame written at wall time ``W`` was
captured at ``W - L``, ``L`` being the video latency (the model's work, the outputs'
pacing). Sound heard at wall time ``A`` therefore belongs at ``A + L`` in the
recording, else lips move after the voice. So sound travels as :class:`HeardSound`
chunks stamped with the ``time.perf_counter()`` at which they were heard, through the
:class:`AudioTap` of the :class:`~app.live.sink_set.SinkSet` (which outlives sessions,
like the outputs); the tap also knows when the newest frame given to the outputs was
captured, so a recording measures ``L`` on the very frames it writes, and places each
chunk with :class:`SyncedSound`.

A file source is "heard" as it plays: :class:`FileSound` decodes the file's audio and
stamps each chunk with the wall time at which ``LoopedFile`` shows the video of the
same instant (both follow one :class:`PlaybackClock`, loops included), so the same
path serves a file and, later, a microphone.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from app.files.sound_track import SOUND_CHANNELS, SOUND_RATE, SoundTrack
from app.workers import Worker

HISTORY_SECONDS = 3.0
"""Sound kept for a recording that starts now: its first frame shows a picture captured
up to the video latency ago, and the sound of that moment must still be at hand."""
JITTER_SECONDS = 0.005
"""A chunk heard this close to where the previous one ended continues it without a cut
or a pad (timestamps round; 5 ms is far below what is seen as out of sync)."""
LATENCY_FRAMES = 15


@dataclass(frozen=True)
class HeardSound:
    """``samples`` (float32, ``SOUND_CHANNELS`` x n at ``SOUND_RATE``) whose first one was heard at ``heard``."""

    heard: float
    samples: np.ndarray

    @property
    def end(self) -> float:
        return self.heard + self.samples.shape[1] / SOUND_RATE


class AudioTap:
    """Where the current source's sound goes; each recording listens. Thread-safe.

    ``label`` says what is heard ("" for nothing: recordings are then silent films): the
    source's own sound (a video file's), or while a recording hears a microphone
    (:mod:`app.live.microphone`) the microphone's, and then only its: one voice, not two
    mixed. ``problem``: the last line about sound that went wrong (a missing microphone),
    for the window and the command line to say.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._history: deque[HeardSound] = deque()
        self._listeners: list[queue.SimpleQueue[HeardSound]] = []
        self.newest = 0.0
        """The capture time (perf_counter) of the newest frame given to the outputs: what a paced output shows now."""
        self.source_label = ""
        """What the source itself sounds like ("" when silent), heard when no microphone is."""
        self.microphone = ""
        self.problem = ""

    @property
    def label(self) -> str:
        return self.microphone or self.source_label

    def publish(self, sound: HeardSound, microphone: bool = False) -> None:
        """``sound`` heard from the source (or with ``microphone`` from the microphone); dropped
        when it is not what is heard now."""
        with self._lock:
            if microphone != bool(self.microphone):
                return
            self._history.append(sound)
            while self._history and self._history[0].end < sound.end - HISTORY_SECONDS:
                self._history.popleft()
            for listener in self._listeners:
                listener.put(sound)

    def listen(self) -> queue.SimpleQueue[HeardSound]:
        """A queue of every chunk from now on, the last few seconds' already in it."""
        listener: queue.SimpleQueue[HeardSound] = queue.SimpleQueue()
        with self._lock:
            for sound in self._history:
                listener.put(sound)
            self._listeners.append(listener)
        return listener

    def stop_listening(self, listener: queue.SimpleQueue[HeardSound]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def set_label(self, label: str) -> None:
        """A new source of sound (or none): what came before it is no history for it."""
        with self._lock:
            self.source_label = label
            if not self.microphone:
                self._history.clear()

    def hear_microphone(self, label: str) -> None:
        """From now on the microphone called ``label`` is heard, not the source."""
        with self._lock:
            self.microphone, self.problem = label, ""
            self._history.clear()

    def stop_microphone(self, label: str) -> None:
        """The microphone ``label`` is closed: the source is heard again."""
        with self._lock:
            if self.microphone == label:
                self.microphone = ""
                self._history.clear()

    def note_frame(self, captured: float) -> None:
        """A frame captured at ``captured`` (perf_counter) is being handed to the outputs now."""
        self.newest = captured


class PlaybackClock:
    """When each play of a looped file started, on the wall clock: the file's picture
    (``LoopedFile``) tells, its sound (:class:`FileSound`) follows."""

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._changed = threading.Condition()
        self.generation = 0
        """Counts reopenings of the file: a reopened file plays from its start again."""

    def started(self, wall: float, first: bool) -> None:
        with self._changed:
            if first:
                self._starts, self.generation = [], self.generation + 1
            self._starts.append(wall)
            self._changed.notify_all()

    def start_of(self, play: int, generation: int, timeout: float) -> float | None:
        """The wall time play ``play`` started, waiting up to ``timeout``; None if not (yet), or reopened since."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._starts) > play or self.generation != generation, timeout)
            if self.generation != generation or len(self._starts) <= play:
                return None
            return self._starts[play]


def has_audio(path: Path) -> bool:
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, OSError):
        return False


class FileSound:
    """A looped file's first audio stream, published to ``tap`` as it plays (a thread)."""

    def __init__(self, path: Path, clock: PlaybackClock, tap: AudioTap) -> None:
        self.path, self.clock, self.tap = Path(path), clock, tap
        self.label = ""
        self._stop = threading.Event()
        self._worker = Worker(self._run, "file-sound")

    def start(self) -> FileSound:
        self.label = f"sound of {self.path.name}"
        self.tap.set_label(self.label)
        self._worker.start()
        return self

    def _run(self) -> None:
        play, generation = 0, self.clock.generation
        while not self._stop.is_set():
            start = self.clock.start_of(play, generation, 0.2)
            if start is None:
                if self.clock.generation != generation:
                    play, generation = 0, self.clock.generation
                continue
            self._play(start, play, generation)
            play += 1

    def _play(self, start: float, play: int, generation: int) -> None:
        """Publish one play's sound, each chunk when its moment comes; cut where the next play starts."""
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SOUND_RATE)
        with av.open(str(self.path)) as container:
            stream = container.streams.audio[0]
            first: float | None = None
            published = 0
            for frame in container.decode(stream):
                if frame.pts is not None and first is None:
                    first = float(frame.pts * frame.time_base)
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().astype(np.float32, copy=False)[:SOUND_CHANNELS]
                    heard = start + (first or 0.0) + published / SOUND_RATE
                    following = self.clock.start_of(play + 1, generation, 0.0)
                    if following is not None and heard >= following:
                        return  # the picture has started again: so does the sound
                    if self._stop.wait(max(0.0, heard - time.perf_counter())):
                        return
                    self.tap.publish(HeardSound(heard, samples))
                    published += samples.shape[1]

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(2.0)
        if self.tap.source_label == self.label:  # not yet the next source's
            self.tap.set_label("")


class SyncedSound:
    """Heard sound placed in one recording, gapless, at the recording time of the picture captured with it.

    Each written frame says when the picture it shows was captured (``follow``); the
    sound heard at that moment belongs at that frame's time. The mapping (``origin``:
    the wall time heard at recording time 0) is the median over the last
    :data:`LATENCY_FRAMES` frames, and moves only when the picture's latency has moved
    by more than half a frame: sound that shifted with every frame would stutter. A chunk
    that starts where the last one ended (within :data:`JITTER_SECONDS`) continues it;
    a gap (a moved origin, the source changed, the file looped) becomes silence; an
    overlap is cut.
    """

    def __init__(self, tap: AudioTap, track: SoundTrack) -> None:
        self.tap, self.track = tap, track
        self.listener = tap.listen()
        self.origin: float | None = None
        """The wall time heard at the recording's time 0."""
        self._origins: deque[float] = deque(maxlen=LATENCY_FRAMES)
        self._waiting: deque[HeardSound] = deque()

    def follow(self, captured: float, at: float, frame: float) -> None:
        """The frame written at recording time ``at`` (s) shows a picture captured at ``captured``
        (perf_counter); ``frame``: the recording's frame period."""
        self._origins.append(captured - at)
        median = float(np.median(self._origins))
        if self.origin is None or abs(median - self.origin) > frame / 2:
            self.origin = median

    def place_until(self, recording_time: float | None) -> None:
        """Write the sound that belongs before ``recording_time`` (seconds; None: all there is)."""
        if self.origin is None:
            return
        while True:
            try:
                self._waiting.append(self.listener.get_nowait())
            except queue.Empty:
                break
        while self._waiting and (recording_time is None or self._waiting[0].heard - self.origin < recording_time):
            self._place(self._waiting.popleft())

    def _place(self, sound: HeardSound) -> None:
        assert self.origin is not None
        at = round((sound.heard - self.origin) * SOUND_RATE)
        written = self.track.samples
        samples = sound.samples
        if written and abs(at - written) <= JITTER_SECONDS * SOUND_RATE:
            at = written  # continues the last chunk
        if at < written:
            samples = samples[:, written - at:]  # already covered (or before the recording began)
        elif at > written:
            self.track.write(np.zeros((SOUND_CHANNELS, at - written), np.float32))  # nothing was heard meanwhile
        if samples.shape[1]:
            self.track.write(samples)

    def finish(self, recording_end: float) -> None:
        """Place what belongs before the video's end, then flush the encoder."""
        self.tap.stop_listening(self.listener)
        self.place_until(recording_end)
        self.track.finish(round(recording_end * SOUND_RATE))
