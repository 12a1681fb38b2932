"""The MPEG-TS stream over UDP: what OBS's Media Source reads.

Its frames are encoded by the :class:`~app.live.shared_encoder.EncodedFeed` it rides,
once for it and an H.264 recording of the same size and rate; the stream only muxes the
packets. Their timestamps are the feed's ticks, on a fixed grid: a tick emitted late
(a busy CPU) keeps its place, so a receiver plays in real time with no hole.
"""

from __future__ import annotations

import av

from common.errors import LiveToonError

from app.live.settings import OutputSettings
from app.live.shared_encoder import EncoderPool, FeedOutput
from app.live.sinks import DEFAULT_STREAM_URL, PacerTiming, stream_target
from app.workers import first_line


def open_mpegts(url: str, template: av.VideoStream) -> tuple[av.container.OutputContainer, av.VideoStream]:
    """An MPEG-TS output for the encoder's packets (its parameters copied from ``template``),
    opened now so a bad host fails here (PyAV would otherwise open the network only at the
    first packet, on the feed's thread). The encoder's key frame each second lets a receiver
    that joins late show a picture within a second; the muxer puts the SPS/PPS before each."""
    try:
        container = av.open(stream_target(url), mode="w", format="mpegts")
    except (av.error.FFmpegError, OSError) as exc:
        raise LiveToonError(f"cannot open the stream {url}: {first_line(exc)}") from exc
    try:
        stream = container.add_stream_from_template(template)
        container.start_encoding()
    except OSError as exc:  # FFmpeg's network errors are OSErrors too: the host did not resolve or is unreachable
        container.close()
        raise LiveToonError(f"cannot stream to {url}: {exc.strerror or first_line(exc)} (is the host right?)") from exc
    except (av.error.FFmpegError, ValueError) as exc:
        container.close()
        raise LiveToonError(f"cannot stream to {url}: {first_line(exc)}") from exc
    return container, stream


class StreamSink(FeedOutput):
    """MPEG-TS over UDP, H.264 tuned for latency, on the shared encoder of ``encoders``
    (the :class:`~app.live.sink_set.SinkSet`'s; None: an encoder of its own)."""

    kind = "stream"

    def __init__(self, url: str = DEFAULT_STREAM_URL, output: OutputSettings = OutputSettings(),
                 encoders: EncoderPool | None = None, timing: PacerTiming = PacerTiming()) -> None:
        self.url = url
        stream_target(url)  # a bad URL is said before an encoder starts
        pool = encoders or EncoderPool()
        with pool.feed_for(output, timing) as feed:
            self.container, self.stream = open_mpegts(url, feed.stream)
            super().__init__(feed, pool, f"{url} ({output.width}x{output.height} @ {output.fps:g} fps, "
                                         f"MPEG-TS H.264)")

    def mux(self, packet: av.Packet) -> None:
        packet.stream = self.stream
        try:
            self.container.mux(packet)
        except OSError as exc:  # the network refused it (FFmpeg's errors are OSErrors): said with the URL given
            raise LiveToonError(f"cannot send to {self.url}: {exc.strerror or first_line(exc)}") from exc

    def release(self) -> None:
        self.container.close()
