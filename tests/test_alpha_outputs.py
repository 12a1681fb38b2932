"""Outputs that keep the cut-out person's transparency: files (.mov ProRes 4444, .webm
VP9 with alpha) and live recordings, with real frames and a real alpha (see
``tests/alpha_frames.py``), encoded by PyAV and decoded back.

Codec error on alpha, measured on 12 carphone frames (352x288) with MediaPipe's soft
matte: ProRes 4444 (10-bit alpha) mean 0.04/255, never more than 1/255; VP9 (8-bit
alpha, lossy, crf 18) mean 0.15/255, 99th percentile 3/255, 99.9th 7/255, a few edge
pixels up to 29/255.
"""

from __future__ import annotations

import shutil
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from common.errors import LiveToonError

from app.commands.cli import main
from app.files.video_out import VideoWriter
from app.live.record import AlphaRecordSink
from app.live.settings import OutputSettings
from app.live.sinks import NO_ALPHA_NOTE, letterbox, lost_slate
from tests.alpha_frames import bgra, carphone_frames, cutout_agreement, decode_bgra, matching_alpha_error, selfie_alphas
from tests.clips import probe, write_clip
from tests.test_hostile import hashes, keeps_promise, run_process

FRAMES = 12
ALPHA_ERROR = {".mov": (0.5, 2), ".webm": (1.0, 8)}
"""Per container: (mean, 99th percentile) absolute alpha error allowed after decoding, in 0-255 levels."""


@pytest.fixture(scope="module")
def person() -> list[np.ndarray]:
    frames = carphone_frames(FRAMES)
    return bgra(frames, selfie_alphas(frames))


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory, person):
    """A real PyAV-encoded clip of the same frames with an AAC track, as convert would get."""
    h, w = person[0].shape[:2]
    path = tmp_path_factory.mktemp("src") / "talk.mp4"
    return write_clip(path, size=(w, h), images=[p[..., :3].copy() for p in person], audio=("aac",))


@pytest.mark.parametrize("suffix", [".mov", ".webm"])
def test_transparent_file_decodes_back_with_its_alpha_and_audio(tmp_path, person, clip_with_audio, suffix):
    h, w = person[0].shape[:2]
    out = tmp_path / f"cut{suffix}"
    writer = VideoWriter(out, w, h, Fraction(24), Fraction(1, 24), audio_source=clip_with_audio, alpha=True)
    for i, frame in enumerate(person):
        writer.write(frame, i)
    assert writer.close() == out
    decoded = decode_bgra(out)
    assert len(decoded) == FRAMES
    errors = np.array([np.abs(d[..., 3].astype(int) - p[..., 3]) for d, p in zip(decoded, person)])
    mean_limit, p99_limit = ALPHA_ERROR[suffix]
    assert errors.mean(axis=(1, 2)).max() <= mean_limit
    assert np.percentile(errors, 99) <= p99_limit
    assert min((p[..., 3] < 10).mean() for p in person) > 0.2, "the alpha is a real cut-out (background present)"
    info = probe(out)
    assert [codec for codec, _ in info["audio"]] == ["aac" if suffix == ".mov" else "opus"], "AAC copied; WebM gets Opus"
    assert info["audio"][0][1] == pytest.approx(probe(clip_with_audio)["audio"][0][1], abs=1 / 24), "the audio is all there"


@pytest.mark.parametrize("name", ["cut.mp4", "cut.mkv", "cut.m4v", "cut"])
def test_other_containers_are_refused_before_writing(tmp_path, name):
    with pytest.raises(LiveToonError, match="cannot carry transparency; write .mov .* or .webm") as caught:
        VideoWriter(tmp_path / name, 64, 48, Fraction(24), Fraction(1, 24), alpha=True)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == [], "nothing written, not even a temporary file"


def test_a_writer_refuses_a_frame_without_alpha(tmp_path, person):
    h, w = person[0].shape[:2]
    writer = VideoWriter(tmp_path / "cut.webm", w, h, Fraction(24), Fraction(1, 24), alpha=True)
    with pytest.raises(ValueError, match="3 channels"):
        writer.write(person[0][..., :3], 0)
    writer.discard()
    assert list(tmp_path.iterdir()) == []


def test_live_recording_keeps_alpha(tmp_path, person):
    """A paced recording to .webm (VP9 real-time mode): the frames it holds carry the alpha sent."""
    h, w = person[0].shape[:2]
    sink = AlphaRecordSink(tmp_path / "live.webm", OutputSettings(w, h, 15.0))
    assert sink.carries_alpha
    for frame in person:
        sink.submit(frame)
        time.sleep(0.1)
    sink.close()
    assert sink.error is None and sink.saved == tmp_path / "live.webm"
    decoded = decode_bgra(sink.saved)
    assert len(decoded) >= FRAMES // 2
    assert max(matching_alpha_error(d, person) for d in decoded) <= ALPHA_ERROR[".webm"][0]


def test_bgra_letterbox_bars_are_transparent_and_the_slate_opaque(person):
    boxed = letterbox(person[0], 640, 360)
    assert boxed.shape == (360, 640, 4)
    assert boxed[:, :20, 3].max() == 0, "the side bars let the scene behind show"
    assert (lost_slate(640, 360, channels=4)[..., 3] == 255).all(), "a lost camera is seen, not invisible"


CONVERT_ARGS = ["--style", "toon-lite", "--mode", "background", "--stability", "0", "--max-size", "360",
                "--device", "cpu"]


@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory) -> Path:
    """24 frames of the recorded talking head (352x288) with an AAC track, encoded by PyAV."""
    frames = carphone_frames(24)
    path = tmp_path_factory.mktemp("talk") / "talk.mp4"
    return write_clip(path, size=(352, 288), images=frames, audio=("aac",))


@pytest.fixture(scope="module")
def talking_mattes(talking_clip) -> list[np.ndarray]:
    """MediaPipe's own selfie mask of each frame of the clip as PyAV decodes it: made apart
    from the code under test (the codec's own error on alpha is measured above, on known alphas)."""
    with av.open(str(talking_clip)) as container:
        frames = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    return selfie_alphas(frames)


@pytest.mark.parametrize("suffix", [".mov", ".webm"])
def test_convert_transparent_keeps_the_matte_as_alpha_and_the_audio(tmp_path, talking_clip, talking_mattes, suffix):
    out = tmp_path / f"cut{suffix}"
    assert main(["convert", str(talking_clip), "-o", str(out), "--background", "transparent", *CONVERT_ARGS]) == 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name], "no temporary file left"
    decoded = decode_bgra(out)
    assert len(decoded) == len(talking_mattes) == 24
    assert 0.1 < np.mean([(m > 127).mean() for m in talking_mattes]) < 0.9, "a person cut out of the car"
    agreement = [cutout_agreement(d[..., 3], m) for d, m in zip(decoded, talking_mattes)]
    print(f"{suffix}: alpha vs MediaPipe's own mask: (IoU, mean levels) {np.round(agreement, 2).tolist()}")
    assert min(iou for iou, _ in agreement) >= 0.88 and max(diff for _, diff in agreement) <= 12, agreement
    audio = probe(out)["audio"]
    assert [codec for codec, _ in audio] == ["aac" if suffix == ".mov" else "opus"]
    assert audio[0][1] == pytest.approx(probe(talking_clip)["audio"][0][1], abs=1 / 24), "the audio is all there"


@pytest.mark.parametrize("name", ["cut.mp4", "cut.mkv"])
def test_convert_transparent_to_another_container_is_one_line_before_any_work(tmp_path, talking_clip, capsys, name):
    out = tmp_path / "out" / name
    assert main(["convert", str(talking_clip), "-o", str(out), "--background", "transparent", *CONVERT_ARGS]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"livetoon: error: {out}: {Path(name).suffix} cannot carry transparency; write .mov (ProRes 4444) or .webm "
        f"(VP9 with alpha)"]
    assert "device:" not in captured.out, "refused before the model loads"
    assert not out.parent.exists(), "nothing made on disk"


def test_live_transparent_recording_to_another_container_is_refused_before_going_live(talking_clip, tmp_path, capsys):
    target = tmp_path / "rec.mp4"
    assert main(["live", "--input", str(talking_clip), "--background", "transparent", "--record", str(target),
                 "--duration", "1", *CONVERT_ARGS]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"livetoon: error: {target}: .mp4 cannot carry transparency; write .mov (ProRes 4444) or .webm (VP9 with alpha)"]
    assert "device:" not in captured.out and list(tmp_path.iterdir()) == []


def test_live_transparent_says_once_that_the_stream_gets_the_key_colour(talking_clip, capsys):
    assert main(["live", "--input", str(talking_clip), "--background", "transparent", "--stream",
                 "udp://127.0.0.1:9", "--duration", "2", *CONVERT_ARGS]) == 0  # the discard port: sent, unread
    notes = [line for line in capsys.readouterr().out.splitlines() if "cannot carry transparency" in line]
    assert notes == [f"note: {NO_ALPHA_NOTE}"]


# -- bad conditions: one line, non-zero exit, nothing half-written under the final name --
@pytest.mark.parametrize("suffix", [".webm", ".mov"])
def test_convert_transparent_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, talking_clip, suffix):
    """The disk fills up midway (a file-size limit on the process, as ``test_hostile`` does)."""
    work = tmp_path / "work"
    work.mkdir()
    clip = Path(shutil.copy(talking_clip, work / "talk.mp4"))
    outcome = run_process(["convert", clip.name, "-o", f"o{suffix}", "--background", "transparent", *CONVERT_ARGS],
                          work, file_limit=16384)
    keeps_promise(outcome, 1, work, hashes(clip), set(), f"cannot write o{suffix}: File too large")


def test_convert_transparent_into_a_folder_that_cannot_exist_is_one_line(tmp_path, talking_clip, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output folder would go")
    assert main(["convert", str(talking_clip), "-o", str(blocker / "sub" / "o.webm"), "--background", "transparent",
                 *CONVERT_ARGS]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("livetoon: error:") and "cannot create" in errors[0], errors


def test_live_transparent_recording_on_a_full_disk_ends_the_run_in_one_line(tmp_path, talking_clip):
    work = tmp_path / "work"
    work.mkdir()
    clip = Path(shutil.copy(talking_clip, work / "talk.mp4"))
    outcome = run_process(["live", "--input", clip.name, "--background", "transparent", "--record", "rec.webm",
                           "--duration", "60", "--output-size", "640x480", *CONVERT_ARGS], work, file_limit=8192)
    keeps_promise(outcome, 1, work, hashes(clip), set(), "recording stopped: cannot write rec.webm: File too large")
    assert outcome.seconds < 50, "the run ended when the recording failed, not at --duration"
