"""VideoReader / VideoWriter on real clips PyAV encodes here (tests/clips.py), no model.

What matters for a cartoonizer's output is that nothing but the pixels changes:
frame count, every timestamp, every audio stream and its length, orientation. And
that a bad file or a failed write ends in one clear LiveToonError, never a stray file.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from app.media.video_in import VideoReader
from app.files.video_out import VideoWriter
from common.errors import LiveToonError
from tests.clips import displayed_corner, position, probe, red_corner, write_clip, write_tone_file
from tests.conftest import REPO_ROOT

SIZE = (160, 120)
VFR_PTS = [0, 40, 90, 120, 200, 230, 300, 410, 420, 500]  # milliseconds


def copy_through(src: Path, dst: Path, **options) -> Path:
    """Identity processing: every frame read is written back with its own pts."""
    with VideoReader(src) as reader:
        writer = VideoWriter(dst, reader.width, reader.height, reader.rate, reader.time_base,
                             preset="ultrafast", audio_source=src if reader.audio_streams else None, **options)
        for frame in reader:
            writer.write(frame.image, frame.pts)
        return writer.close()


def seconds(info: dict) -> list[Fraction]:
    return [p * info["time_base"] for p in info["pts"]]


def channels(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [s.codec_context.layout.nb_channels for s in container.streams.audio]


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> Path:
    """NTSC-rate H.264 clip with two AAC tracks (stereo 440 Hz, mono 880 Hz)."""
    return write_clip(tmp_path_factory.mktemp("src") / "talk.mp4", frames=30, size=SIZE,
                      rate=Fraction(30000, 1001), audio=("aac", "aac"))


def test_roundtrip_keeps_frames_rate_timestamps_and_audio(tmp_path, talk):
    with VideoReader(talk) as reader:
        assert (reader.width, reader.height, reader.rotation) == (*SIZE, 0)
        assert reader.rate == Fraction(30000, 1001) and reader.audio_streams == 2
        assert reader.frame_count_estimate == 30 and reader.duration == pytest.approx(1.001)
        frames = list(reader)
    assert [f.index for f in frames] == list(range(30))
    assert frames[5].time == pytest.approx(float(frames[5].pts * reader.time_base))
    sprite = min(SIZE[1] - 8, SIZE[0] // 2)
    x, y = position(29, 30, SIZE[0], sprite)
    assert frames[29].image[y:y + sprite, x - 4].mean() < frames[29].image[y:y + sprite, x + 4].mean() + 60

    dst = copy_through(talk, tmp_path / "out.mp4")
    a, b = probe(talk), probe(dst)
    assert b["rate"] == a["rate"] and b["time_base"] == a["time_base"]
    assert b["pts"] == a["pts"], "every frame keeps its pts"
    assert b["video_end"] == pytest.approx(a["video_end"])
    frame = float(1 / a["rate"])
    assert [codec for codec, _ in b["audio"]] == ["aac", "aac"]
    for (_, end_in), (_, end_out) in zip(a["audio"], b["audio"]):
        assert end_out == pytest.approx(end_in, abs=1e-3)
        assert abs(end_out - b["video_end"]) <= frame, "audio and video end together"
    assert channels(dst) == [2, 1], "both audio streams kept, each as it was"
    with VideoReader(dst) as reader:
        again = [f.image for f in reader]
    assert len(again) == 30
    assert np.abs(again[15].astype(int) - frames[15].image.astype(int)).mean() < 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"], "no temporary file left"


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_stays_variable(tmp_path, suffix):
    src = write_clip(tmp_path / f"vfr{suffix}", frames=len(VFR_PTS), size=SIZE, pts=VFR_PTS)
    with VideoReader(src) as reader:
        assert [f.pts * reader.time_base for f in reader] == [Fraction(p, 1000) for p in VFR_PTS]
    dst = copy_through(src, tmp_path / f"out{suffix}")
    assert seconds(probe(dst)) == [Fraction(p, 1000) for p in VFR_PTS], "exact times, still irregular"


@pytest.mark.parametrize(("rotation", "turned"), [(90, True), (-90, True), (180, False)])
def test_rotated_clip_reads_and_writes_upright(tmp_path, rotation, turned):
    src = write_clip(tmp_path / "phone.mp4", frames=4, size=SIZE, rotation=rotation)
    shown = displayed_corner(src)  # where a player puts the marker stored top-left
    assert shown != "top-left"
    with VideoReader(src) as reader:
        assert (reader.width, reader.height) == (SIZE[::-1] if turned else SIZE)
        assert reader.rotation == rotation % 360
        first = next(iter(reader)).image
    assert first.shape[:2] == (reader.height, reader.width)
    assert red_corner(first) == shown
    dst = copy_through(src, tmp_path / "out.mp4")
    with av.open(str(dst)) as container:
        decoded = next(container.decode(video=0))
        assert decoded.rotation == 0 and (decoded.width, decoded.height) == (reader.width, reader.height)
    assert displayed_corner(dst) == "top-left", "no rotation metadata"
    assert red_corner(decoded.to_ndarray(format="bgr24")) == shown


@pytest.mark.parametrize(("source", "target", "codec"), [
    (".mov", ".mp4", "aac"), (".mov", ".mkv", "pcm_s16le"), (".mkv", ".mp4", "aac"), (".mov", ".mov", "pcm_s16le"),
])
def test_pcm_audio_is_transcoded_where_the_container_needs_it(tmp_path, source, target, codec):
    src = write_clip(tmp_path / f"pcm{source}", frames=24, size=SIZE, audio=("pcm_s16le",))
    dst = copy_through(src, tmp_path / f"out{target}")
    a, b = probe(src), probe(dst)
    assert b["audio"][0][0] == codec
    assert b["audio"][0][1] == pytest.approx(a["audio"][0][1], abs=2e-3)  # Matroska counts ms
    assert abs(b["audio"][0][1] - b["video_end"]) <= float(1 / a["rate"])
    assert seconds(b) == pytest.approx(seconds(a), abs=1e-3)


def test_h265_and_odd_sizes(tmp_path):
    src = write_clip(tmp_path / "src.mkv", frames=6, size=SIZE, audio=())
    with VideoReader(src) as reader:
        frames = [f for f in reader]
    target = tmp_path / "odd.mp4"
    writer = VideoWriter(target, 159, 119, reader.rate, reader.time_base, codec="h265", preset="ultrafast")
    for frame in frames:
        writer.write(frame.image[:119, :159], frame.pts)
    writer.close()
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "hevc" and (stream.width, stream.height) == (160, 120), "padded to even"
        padded = next(container.decode(stream)).to_ndarray(format="bgr24")
    assert np.abs(padded[:, 159].astype(int) - padded[:, 158].astype(int)).mean() < 6, "edge replicated"


@pytest.mark.parametrize(("case", "message"), [
    ("missing", "no such file"), ("folder", "is a folder"), ("empty", "empty file"),
    ("truncated_mp4", "not a video file, or damaged"), ("not_a_video", "not a video file"),
    ("audio_only", "has no video stream"),
])
def test_bad_inputs_fail_cleanly(tmp_path, talk, case, message):
    path = tmp_path / "input.mp4"
    if case == "folder":
        path = tmp_path
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated_mp4":
        path.write_bytes(talk.read_bytes()[: talk.stat().st_size * 3 // 10])
    elif case == "not_a_video":
        path.write_text("certainly not a video\n" * 50)
    elif case == "audio_only":
        path = write_tone_file(tmp_path / "tone.m4a")
    with pytest.raises(LiveToonError, match=message) as caught:
        VideoReader(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_file_cut_short_mid_stream_says_where(tmp_path):
    # Matroska keeps its index at the front, so a cut file opens and decodes up to the cut.
    good = write_clip(tmp_path / "good.mkv", frames=48, size=SIZE)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size * 3 // 10])
    got = []
    with VideoReader(cut) as reader, pytest.raises(LiveToonError, match=r"cut\.mkv: damaged at frame \d+ \("):
        for frame in reader:
            got.append(frame)
    assert 0 < len(got) < 48


def test_abort_partial_keeps_a_playable_file_and_discard_leaves_nothing(tmp_path, talk):
    with VideoReader(talk) as reader:
        frames = list(reader)
        rate, time_base = reader.rate, reader.time_base
    target = tmp_path / "out.mp4"
    writer = VideoWriter(target, *SIZE, rate, time_base, preset="ultrafast", audio_source=talk)
    for frame in frames[:8]:
        writer.write(frame.image, frame.pts)
    partial = writer.abort_partial()
    assert partial == tmp_path / "out.partial.mp4" and not target.exists()
    info = probe(partial)
    assert info["pts"] == [f.pts for f in frames[:8]]
    assert len(info["audio"]) == 2 and all(abs(end - info["video_end"]) < 0.05 for _, end in info["audio"])
    writer = VideoWriter(target, *SIZE, rate, time_base, preset="ultrafast", audio_source=talk)
    writer.write(frames[0].image, frames[0].pts)
    writer.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.partial.mp4"]


@pytest.mark.parametrize("case", ["folder_is_a_file", "same_as_input", "webm"])
def test_unwritable_outputs_fail_before_writing(tmp_path, case):
    src = write_clip(tmp_path / "src.mp4", frames=2, size=SIZE)
    target, message = {
        "folder_is_a_file": (src / "out.mp4", "cannot write"),
        "same_as_input": (src, "its own input"),
        "webm": (tmp_path / "out.webm", "WebM"),
    }[case]
    before = src.read_bytes()
    with pytest.raises(LiveToonError, match=message):
        VideoWriter(target, *SIZE, Fraction(24), Fraction(1, 24), audio_source=src)
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.mp4"]


def test_full_disk_is_one_message_and_no_file(tmp_path):
    """A file-size limit makes writes fail like a full disk (EFBIG instead of ENOSPC)."""
    src = write_clip(tmp_path / "src.mp4", frames=24, size=(320, 240))
    script = f"""
import resource, signal, sys
from pathlib import Path
from app.media.video_in import VideoReader
from app.files.video_out import VideoWriter
from common.errors import LiveToonError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, resource.RLIM_INFINITY))
src = Path({str(src)!r})
try:
    with VideoReader(src) as reader:
        writer = VideoWriter(src.with_name("out.mp4"), reader.width, reader.height, reader.rate,
                             reader.time_base, crf=0, preset="ultrafast", audio_source=src)
        for frame in reader:
            writer.write(frame.image, frame.pts)
        writer.close()
except LiveToonError as exc:
    sys.exit(str(exc))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "cannot write" in result.stderr and "File too large" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.mp4"]
