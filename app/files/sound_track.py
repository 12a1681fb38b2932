"""A live recording's sound track: float stereo samples at 48 kHz in, AAC (Opus in WebM) out.

Live sound arrives in chunks of any length, while the encoders take frames of a fixed
size (AAC 1024 samples, Opus 960); the track keeps the remainder and stamps every
frame with the count of samples before it, so the track is gapless and its time is
exact (``pts`` in samples, from the recording's start).
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

SOUND_RATE = 48000
SOUND_CHANNELS = 2


class SoundTrack:
    """One audio stream added to ``container`` (before its encoders start)."""

    def __init__(self, container: av.container.OutputContainer, suffix: str) -> None:
        self.opus = suffix == ".webm"
        self.stream = container.add_stream("libopus" if self.opus else "aac", rate=SOUND_RATE)
        self.stream.layout = "stereo"
        self.stream.format = "flt" if self.opus else "fltp"  # what each encoder takes
        self.stream.time_base = self.stream.codec_context.time_base = Fraction(1, SOUND_RATE)
        self.container = container
        self.samples = 0
        """Samples written so far: the recording time of the next one, in 1/SOUND_RATE."""
        self._pending = np.zeros((SOUND_CHANNELS, 0), np.float32)

    def write(self, samples: np.ndarray) -> None:
        """Append ``samples`` (float32, channels x n); whole encoder frames are encoded now."""
        self._pending = np.concatenate([self._pending, samples], axis=1)
        self.samples += samples.shape[1]
        size = self.stream.codec_context.frame_size or 1024
        while self._pending.shape[1] >= size:
            self._encode(self._pending[:, :size])
            self._pending = self._pending[:, size:]

    def _encode(self, block: np.ndarray) -> None:
        pts = self.samples - self._pending.shape[1]
        data = np.ascontiguousarray(block.T.reshape(1, -1) if self.opus else block, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(data, format=self.stream.format.name, layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = SOUND_RATE, pts, Fraction(1, SOUND_RATE)
        self.container.mux(self.stream.encode(frame))

    def finish(self, end: int) -> None:
        """Pad or cut the track to ``end`` samples (where the video ends), then flush the encoder."""
        if end > self.samples:
            self.write(np.zeros((SOUND_CHANNELS, end - self.samples), np.float32))
        keep = self._pending.shape[1] - max(0, self.samples - end)
        if keep > 0:
            self._encode(self._pending[:, :keep])
        self._pending = self._pending[:, :0]
        self.container.mux(self.stream.encode(None))
