"""Video files: reading, writing with every audio stream, and ``livetoon convert`` end to end.

Clips are real H.264 files encoded by PyAV in the tests (tests/clips.py). The model
is the real DCT-Net network with a tiny random style so conversions take seconds;
what is checked here is timing, audio, orientation and failure handling.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from app.media.video_in import VideoReader
from app.files.video_out import VideoWriter
from common.errors import LiveToonError
from dctnet.network import TTN
from dctnet.weights import save_style
from tests.clips import probe, write_clip
from tests.test_cli_image import assert_clean_failure, run_cli


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    (data_dir / "styles").mkdir()
    torch.manual_seed(0)
    weights = TTN(4).state_dict()
    save_style(data_dir / "styles" / "tiny.safetensors", weights, weights, {"name": "tiny"})
    return data_dir


def convert(src: Path, dst: Path, data_dir: Path, *extra: str):
    return run_cli("convert", str(src), "-o", str(dst), "--style", "tiny", "--preset", "ultrafast", *extra, data_dir=data_dir)


def assert_same_timing(src: Path, dst: Path, constant_rate: bool = True) -> None:
    a, b = probe(src), probe(dst)
    if constant_rate:  # an average rate means nothing for VFR; its timestamps are checked below
        assert b["rate"] == a["rate"]
    seconds = lambda info: [p * info["time_base"] for p in info["pts"]]  # noqa: E731
    assert seconds(b) == seconds(a), "every frame keeps its timestamp"
    assert [codec for codec, _ in b["audio"]] and len(b["audio"]) == len(a["audio"])
    frame = float(1 / a["rate"]) if constant_rate else max(np.diff([float(t) for t in seconds(a)]))
    for (_, end_in), (_, end_out) in zip(a["audio"], b["audio"]):
        assert abs(end_out - end_in) <= frame, (end_in, end_out)
        assert abs(end_out - b["video_end"]) <= frame, "audio and video end together"


def test_convert_keeps_frames_rate_timestamps_and_both_audio_streams(tmp_path, tiny_data_dir):
    src = write_clip(tmp_path / "talk.mp4", frames=30, rate=Fraction(30000, 1001), audio=("aac", "aac"))
    dst = tmp_path / "out" / "talk_toon.mp4"
    result = convert(src, dst, tiny_data_dir, "--mode", "full")
    assert result.returncode == 0, result.stderr
    assert_same_timing(src, dst)
    with VideoReader(dst) as reader:
        frames = [f.image for f in reader]
    with VideoReader(src) as reader:
        originals = [f.image for f in reader]
    assert len(frames) == 30 and frames[0].shape == originals[0].shape
    assert np.abs(frames[10].astype(int) - originals[10].astype(int)).mean() > 5, "frames were stylized"
    assert not list(dst.parent.glob(".*tmp*")), "no temporary file left"


def test_vfr_stays_vfr_and_pcm_audio_is_transcoded_into_mp4(tmp_path, tiny_data_dir):
    pts = [0, 40, 90, 120, 200, 230, 300, 410, 420, 500]
    src = write_clip(tmp_path / "vfr.mkv", frames=len(pts), pts=pts, audio=("pcm_s16le",))
    for suffix, codec in ((".mp4", "aac"), (".mkv", "pcm_s16le")):
        dst = tmp_path / f"vfr_out{suffix}"
        result = convert(src, dst, tiny_data_dir, "--mode", "background", "--stability", "0")
        assert result.returncode == 0, result.stderr
        assert_same_timing(src, dst, constant_rate=False)
        info = probe(dst)
        assert len({b - a for a, b in zip(info["pts"], info["pts"][1:])}) > 1, "still variable"
        assert info["audio"][0][0] == codec


def test_rotated_clip_comes_out_upright(tmp_path, tiny_data_dir):
    # A phone in portrait stores landscape pixels and a -90 degree display matrix; a
    # player (FFmpeg's autorotate) turns them a quarter clockwise: the red marker
    # stored top-left is shown top-right.
    src = write_clip(tmp_path / "phone.mp4", frames=6, size=(192, 128), rotation=-90)
    with VideoReader(src) as reader:
        assert (reader.width, reader.height, reader.rotation) == (128, 192, 270)
        first = next(iter(reader)).image
    assert first.shape == (192, 128, 3)
    corners = {"top-left": first[1:7, 1:7], "top-right": first[1:7, -7:-1],
               "bottom-left": first[-7:-1, 1:7], "bottom-right": first[-7:-1, -7:-1]}
    red = [name for name, patch in corners.items() if patch[..., 2].mean() > 180 and patch[..., :2].mean() < 80]
    assert red == ["top-right"], red
    dst = tmp_path / "phone_out.mp4"
    result = convert(src, dst, tiny_data_dir, "--mode", "background", "--side-by-side")
    assert result.returncode == 0, result.stderr
    assert probe(dst)["size"] == (256, 192), "upright, input and cartoon side by side"


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "not_a_video", "audio_only", "unwritable", "same_as_input"])
def test_bad_inputs_fail_cleanly(tmp_path, tiny_data_dir, case):
    good = write_clip(tmp_path / "good.mp4", frames=12)
    src, dst, expect = good, tmp_path / "out.mp4", ""
    if case == "missing":
        src, expect = tmp_path / "nope.mp4", "no such file"
    elif case == "empty":
        src, expect = tmp_path / "empty.mp4", "empty file"
        src.write_bytes(b"")
    elif case == "truncated":
        src, expect = tmp_path / "cut.mp4", "cut.mp4"
        src.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    elif case == "not_a_video":
        src, expect = tmp_path / "notes.mp4", "not a video"
        src.write_text("certainly not a video\n" * 50)
    elif case == "audio_only":
        import av

        src, expect = tmp_path / "tone.m4a", "no video stream"
        from tests.clips import write_tone

        with av.open(str(src), "w") as container:
            write_tone(container, container.add_stream("aac", rate=44100), 440.0, 0.5)
    elif case == "unwritable":
        blocker = tmp_path / "a_file"
        blocker.write_text("x")
        dst, expect = blocker / "out.mp4", "cannot create output folder"
    elif case == "same_as_input":
        dst, expect = good, "its own input"
    before = good.read_bytes()
    result = convert(src, dst, tiny_data_dir)
    assert_clean_failure(result, expect)
    assert good.read_bytes() == before
    if case != "same_as_input":
        assert not dst.exists()
    leftovers = [p.name for p in tmp_path.rglob("*") if "tmp" in p.name or "partial" in p.name]
    assert not leftovers, leftovers


def test_writer_partial_and_discard(tmp_path):
    src = write_clip(tmp_path / "src.mp4", frames=20)
    with VideoReader(src) as reader:
        frames = list(reader)
        rate, time_base = reader.rate, reader.time_base
    target = tmp_path / "out.mp4"
    writer = VideoWriter(target, 192, 128, rate, time_base, preset="ultrafast", audio_source=src)
    for frame in frames[:8]:
        writer.write(frame.image, frame.pts)
    partial = writer.abort_partial()
    assert partial.name == "out.partial.mp4" and not target.exists()
    with VideoReader(partial) as reader:
        assert len(list(reader)) == 8
    writer = VideoWriter(target, 192, 128, rate, time_base, preset="ultrafast")
    writer.write(frames[0].image, frames[0].pts)
    writer.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.partial.mp4", "src.mp4"]


def test_reader_rejects_a_folder(tmp_path):
    with pytest.raises(LiveToonError, match="folder"):
        VideoReader(tmp_path)


def test_ctrl_c_keeps_a_playable_partial_file(tmp_path, tiny_data_dir):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO_ROOT

    src = write_clip(tmp_path / "long.mp4", frames=1200, size=(192, 128))  # 50 s: far longer than the test waits
    dst = tmp_path / "long_toon.mp4"
    env = {"LIVETOON_DATA_DIR": str(tiny_data_dir), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main.py"), "convert", str(src), "-o", str(dst), "--style", "tiny",
         "--mode", "background", "--max-size", "720", "--preset", "ultrafast"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 120

    def temporary_size() -> int:  # the writer's temporary name is unique per run: .long_toon.<random>.tmp.mp4
        return sum(p.stat().st_size for p in tmp_path.glob(".long_toon.*.tmp.mp4"))

    while time.monotonic() < deadline and temporary_size() < 20_000:
        time.sleep(0.05)  # interrupt as soon as some frames are on disk, whatever the engine's speed
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    partial = tmp_path / "long_toon.partial.mp4"
    assert "interrupted" in stderr and str(partial) in stderr and "Traceback" not in stderr
    assert not dst.exists() and not list(tmp_path.glob(".long_toon*"))
    with VideoReader(partial) as reader:
        kept = len(list(reader))
    assert 0 < kept < 1200
    assert abs(probe(partial)["audio"][0][1] - probe(partial)["video_end"]) < 0.1, "audio cut where the video ends"


def test_eval_temporal_reports_less_flicker_for_the_stabilized_conversion(tmp_path, tiny_data_dir):
    import re

    from benchmarks.talking_clip import head_motion_frames

    src = write_clip(tmp_path / "head.mp4", size=(320, 180), images=head_motion_frames(24, 320, 180))
    outputs = {}
    for name, stability in (("per_frame", "0"), ("stable", "0.8")):
        outputs[name] = tmp_path / f"{name}.mp4"
        result = convert(src, outputs[name], tiny_data_dir, "--mode", "background", "--stability", stability)
        assert result.returncode == 0, result.stderr
    result = run_cli("eval-temporal", str(src), str(outputs["stable"]), str(outputs["per_frame"]), data_dir=tiny_data_dir)
    assert result.returncode == 0, result.stderr
    ratio = float(re.search(r"output/reference ratio ([\d.]+)", result.stdout).group(1))
    fidelity = float(re.search(r"fidelity PSNR output vs reference: ([\d.]+) dB", result.stdout).group(1))
    assert 0 < ratio < 0.9 and fidelity > 25, result.stdout
