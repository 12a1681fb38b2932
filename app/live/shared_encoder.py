"""One H.264 encoder for the outputs that show the same picture (issue 27, 3).

The stream and a recording carry the same letterboxed picture at the same size and
rate. Encoding it twice cost a second x264 and a second BGR->YUV conversion on a CPU the
model already loads, and the stream fell behind. So an :class:`EncodedFeed` paces and
encodes each frame once, and every :class:`FeedOutput` riding it (the MPEG-TS stream of
:mod:`app.live.stream`, an H.264 recording of :mod:`app.live.record`) muxes the same
packets into its own container, with its own timestamps (from its own start) and its
container's own time base. The :class:`EncoderPool` (one per
:class:`~app.live.sink_set.SinkSet`, handed to the outputs in their
:class:`~app.live.outputs.OutputRequest`) is the one place that decides the sharing:
outputs asking for the same :class:`VideoFormat` ride one feed; any other (another size
or rate, a transparent recording, which has its own encoder) does not.

The encoder is the stream's (x264 ``ultrafast``, ``zerolatency``: one packet per frame,
no B-frames; a key frame each second), with global headers, so an MP4 or Matroska file
gets its ``avcC`` and the MPEG-TS muxer puts the same SPS/PPS before each key frame. An
output that joins later starts at a key frame forced for it (a recording: at the first
cartoon frame, never the starting card). A feed with a recording on it is constant-rate
(every tick encoded, however late); without one it catches up at most
:data:`LIVE_CATCH_UP_SECONDS`, and the stream never carries a tick later than that: beside
a recording that is catching up it skips those ticks and goes on from a key frame forced
for it (a hole, as a live viewer wants, rather than a growing delay). An output whose muxing fails (a full disk, a dead network)
is finished and dropped alone, with its one line; the encoder failing ends every output
on the feed.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Self

import av
import numpy as np
from av.codec.context import Flags
from av.video.frame import PictureType

from common.errors import LiveToonError

from app.live.settings import OutputSettings
from app.live.sinks import CLOSE_SECONDS, CONSTANT_RATE, MISSED_AT_CLOSE_SECONDS, FramePacer, PacerTiming
from app.workers import first_line

LIVE_CATCH_UP_SECONDS = 0.5
"""How far behind a feed with no recording on it may fall and still emit every tick (late,
on its place in the grid, so the stream has no hole): a stall of a few periods on a busy
CPU costs no frame, and a longer one does not delay a live viewer by more than this."""


@dataclass(frozen=True)
class VideoFormat:
    """What must match for two outputs to share one encoder: H.264 4:2:0 at this size and rate."""

    width: int
    height: int
    rate: Fraction

    @classmethod
    def of(cls, output: OutputSettings) -> VideoFormat:
        """``output``'s size and rate (the rate as an exact fraction, 29.97 as 30000/1001)."""
        if output.width % 2 or output.height % 2:
            raise LiveToonError(f"H.264 output size must be even (4:2:0), got {output.width}x{output.height}")
        return cls(output.width, output.height, Fraction(output.fps).limit_denominator(1001))


def open_h264(video: VideoFormat) -> tuple[av.container.OutputContainer, av.VideoStream]:
    """The shared encoder: a libx264 stream in FFmpeg's ``null`` container, which writes
    nothing. Its stream is the template each output's container copies its parameters
    (SPS/PPS included) from; the encoder opens now, so its packets carry them from the first."""
    container = av.open(io.BytesIO(), mode="w", format="null")
    stream = container.add_stream("libx264", rate=video.rate)
    stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
    stream.codec_context.time_base = 1 / video.rate
    stream.codec_context.gop_size = max(1, round(video.rate))
    stream.codec_context.max_b_frames = 0
    stream.codec_context.flags |= Flags.global_header
    # ultrafast: a moving 720p frame costs 7.4 ms of CPU instead of veryfast's 18.7 (docs/benchmarks.md 9.1)
    stream.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "21"}
    container.start_encoding()
    return container, stream


class FeedOutput:
    """An output that muxes an :class:`EncodedFeed`'s packets: a :class:`~app.live.contracts.Sink`.

    A subclass opens its container from ``feed.stream`` (``add_stream_from_template``),
    then calls ``__init__``, which attaches it; on the feed's thread it gets ``mux`` for
    each packet from its start (``packet.pts``/``dts`` counted from it, in
    ``packet.time_base``) and ``release`` once at its end (after a failure too).
    ``constant_rate``: every tick, none skipped (a recording). ``waits_for_picture``: it starts
    at the first cartoon frame, not on the starting card.
    """

    kind = "output"
    carries_alpha = False
    constant_rate = False
    waits_for_picture = False
    close_seconds = CLOSE_SECONDS

    def __init__(self, feed: EncodedFeed, pool: EncoderPool, description: str) -> None:
        self.feed, self.pool, self.description = feed, pool, description
        self.start: int | None = None
        """The feed's tick this output's first packet has (a key frame); None before it."""
        self.resync = False
        """A live output skipping ticks later than :data:`LIVE_CATCH_UP_SECONDS`: it goes on at a key frame."""
        self.frames = 0
        self.last_pts = -1
        self.closed_at: float | None = None
        self.finished = threading.Event()
        self._error: str | None = None
        feed.attach(self)

    def mux(self, packet: av.Packet) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def take(self, packet: av.Packet) -> None:
        """One of the feed's packets, its stamps moved to this output's start (on the feed's thread)."""
        assert self.start is not None and packet.pts is not None
        packet.pts -= self.start
        if packet.dts is not None:
            packet.dts -= self.start
        pts = packet.pts
        self.mux(packet)
        self.frames += 1
        self.last_pts = pts

    def fail(self, message: str) -> None:
        self._error = self._error or message

    @property
    def error(self) -> str | None:
        """Why the output stopped (one line): its own failure, or the shared encoder's."""
        reason = self._error or self.feed.pacer.error
        return f"{self.kind} stopped: {reason}" if reason else None

    @property
    def status(self) -> str:
        return self.error or f"{self.kind}: {self.description}"

    def submit(self, frame: np.ndarray) -> None:
        """A BGR frame for the feed (an output beside this one on the feed submits the same one)."""
        self.feed.pacer.submit(frame)

    def show_lost(self) -> None:
        self.feed.pacer.show_lost()

    def close(self) -> None:
        """Stop, finished on the feed's thread, within :attr:`close_seconds`: the last output on
        the feed stops it (a constant-rate one gets the ticks it missed written first, as
        :class:`FramePacer` does); another ends at the feed's next tick (a constant-rate one
        once every tick before now is written)."""
        if not self._stopped():
            self.fail(f"did not finish within {self.close_seconds:g} s")

    def _stopped(self) -> bool:
        """Close; whether it has finished within :attr:`close_seconds`."""
        self.closed_at = self.feed.pacer.clock()
        if self.pool.stop_if_last(self.feed, self):
            return self.feed.pacer.close(self.close_seconds)
        ended = self.finished.wait(self.close_seconds)
        self.pool.retire(self.feed)  # the others closed meanwhile
        return ended

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EncodedFeed:
    """A pacer and one H.264 encoder: each tick's frame is encoded once, and its packets
    muxed into every attached :class:`FeedOutput` (``tick`` is the frame's ``pts``)."""

    def __init__(self, video: VideoFormat, timing: PacerTiming) -> None:
        self.video = video
        self.container, self.stream = open_h264(video)
        self.encoded = 0
        """Frames encoded: one per tick, whatever the number of outputs."""
        self.joining = 0
        """Outputs the pool handed this feed that are still opening (their containers)."""
        self._outputs: list[FeedOutput] = []
        self._lock = threading.Lock()
        self._paced = threading.Event()
        """Set once ``pacer`` is assigned: its thread starts in its constructor and reads it at its first tick."""
        self.pacer = FramePacer(self._encode, video.width, video.height, float(video.rate), name="encoder",
                                release=self._release, timing=timing, catch_up=LIVE_CATCH_UP_SECONDS)
        self._paced.set()

    def outputs(self) -> list[FeedOutput]:
        with self._lock:
            return list(self._outputs)

    def attach(self, output: FeedOutput) -> None:
        with self._lock:
            self._outputs.append(output)
            self._pace()

    def _detach(self, output: FeedOutput) -> None:
        with self._lock:
            self._outputs.remove(output)
            self._pace()

    def _pace(self) -> None:
        """Constant-rate while an output needs it (under the lock)."""
        wanted = any(output.constant_rate for output in self._outputs)
        self.pacer.catch_up = CONSTANT_RATE if wanted else LIVE_CATCH_UP_SECONDS

    def _encode(self, image: np.ndarray) -> None:
        self._paced.wait()
        outputs = [output for output in self.outputs() if not self._finished_closing(output)]
        late = self.pacer.clock() - self.pacer.due > LIVE_CATCH_UP_SECONDS
        for output in outputs:
            output.resync = output.resync or (late and output.start is not None and not output.constant_rate)
        joining = [output for output in outputs if (output.resync and not late) or (
            output.start is None and (self.pacer.has_picture or not output.waits_for_picture))]
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = self.pacer.tick, self.stream.codec_context.time_base
        if joining:
            frame.pict_type = PictureType.I  # x264 makes it an IDR: a joining output starts decodable
        packets = self.stream.encode(frame)
        self.encoded += 1
        for packet in packets:
            self._deliver(packet, outputs, joining)

    def _deliver(self, packet: av.Packet, outputs: list[FeedOutput], joining: list[FeedOutput]) -> None:
        stamps = packet.pts, packet.dts, packet.time_base
        for output in outputs:
            if output.start is None or output.resync:
                if output not in joining or not packet.is_keyframe:
                    continue
                output.start = stamps[0] if output.start is None else output.start
                output.resync = False
            packet.pts, packet.dts, packet.time_base = stamps  # the output before moved them to its own
            try:
                output.take(packet)
            except Exception as exc:  # noqa: BLE001 - FFmpeg's and the OS's errors alike end this output only
                output.fail(first_line(exc))
                self._end(output)

    def _finished_closing(self, output: FeedOutput) -> bool:
        """Whether a closed output has all its ticks (a constant-rate one: each due half a period
        before its close, or as many as :data:`MISSED_AT_CLOSE_SECONDS` allowed); then it ends."""
        if output.closed_at is None:
            return False
        period = 1.0 / self.pacer.fps
        done = (not output.constant_rate or self.pacer.due > output.closed_at - period / 2
                or self.pacer.clock() - output.closed_at >= MISSED_AT_CLOSE_SECONDS)
        if done:
            self._end(output)
        return done

    def _end(self, output: FeedOutput) -> None:
        """Detach ``output`` and finish it (on this thread, after its last packet)."""
        self._detach(output)
        try:
            output.release()
        except Exception as exc:  # noqa: BLE001 - the output is going away; keep the first error
            output.fail(first_line(exc))
        finally:
            output.finished.set()

    def _release(self) -> None:
        """The feed stopped (no output left, or the encoder failed): end what still rides it."""
        for output in self.outputs():
            self._end(output)
        self.container.close()

    def idle(self) -> bool:
        return not self.outputs() and not self.joining


class EncoderPool:
    """The encoders of one set of outputs, by :class:`VideoFormat`: the one place that
    decides which outputs share an encoder. A feed starts with its first output and
    stops when its last one has closed (or failed)."""

    def __init__(self) -> None:
        self._feeds: dict[VideoFormat, EncodedFeed] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def feed_for(self, output: OutputSettings, timing: PacerTiming = PacerTiming()) -> Iterator[EncodedFeed]:
        """The running feed for ``output``'s format, or a new one (timed by ``timing``), for an
        output to open on and attach to inside the ``with``; a feed that gets no output
        (the output failed to open) is stopped again."""
        video = VideoFormat.of(output)
        with self._lock:
            feed = self._feeds.get(video)
            if feed is None or feed.pacer.error:
                feed = self._feeds[video] = EncodedFeed(video, timing)
            feed.joining += 1
        try:
            yield feed
        finally:
            with self._lock:
                feed.joining -= 1
            self.retire(feed)

    def stop_if_last(self, feed: EncodedFeed, output: FeedOutput) -> bool:
        """Whether ``output`` is the only one on ``feed``; then no output joins it any more, and
        its caller stops it."""
        with self._lock:
            if feed.outputs() != [output] or feed.joining:
                return False
            self._forget(feed)
        return True

    def retire(self, feed: EncodedFeed) -> None:
        """Stop ``feed`` if no output rides it any more."""
        with self._lock:
            if not feed.idle():
                return
            self._forget(feed)
        feed.pacer.close()

    def _forget(self, feed: EncodedFeed) -> None:
        if self._feeds.get(feed.video) is feed:
            del self._feeds[feed.video]

    def feeds(self) -> list[EncodedFeed]:
        with self._lock:
            return list(self._feeds.values())
