"""``livetoon live`` end to end: a real clip as the camera, a real UDP receiver, real files."""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.commands.cli import main
from app.live.processor import LiveProcessor
from app.live.settings import LiveSettings
from app.media.video_in import VideoReader
from dctnet.engine import Stylizer
from dctnet.network import TTN
from dctnet.styles import FILTER_STYLE, Style, StyleRegistry
from dctnet.toon_teacher import ToonRenderer
from tests.clips import write_clip
from tests.udp import free_udp_port

SIZE = (320, 240)
STYLE_ARGS = ["--style", "toon-lite", "--mode", "background", "--stability", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("live") / "clip.mp4", frames=24, size=SIZE, rate=Fraction(24), audio=())


@pytest.fixture(scope="module")
def expected(clip) -> list[np.ndarray]:
    """What the engine makes of every frame of the clip: the stream must carry these."""
    stylizer = Stylizer.from_style(StyleRegistry().get("toon-lite"), device="cpu", mode="background")
    with VideoReader(clip) as reader:
        return [stylizer.stylize(frame.image, []) for frame in reader]


def receive(url: str, frames: list[np.ndarray], ready: threading.Event) -> None:
    """A real MPEG-TS reader, as OBS's Media Source would be (FFmpeg underneath)."""
    options = {"timeout": "15000000", "fifo_size": "1000000", "overrun_nonfatal": "1"}
    ready.set()
    try:
        with av.open(url, format="mpegts", options=options, timeout=20) as container:
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="bgr24"))
    except (av.error.FFmpegError, OSError):
        pass  # the sender stopped: end of stream


def start_receiver(frames: list[np.ndarray]) -> tuple[str, threading.Thread]:
    """A :func:`receive` listening on a free port before the sender starts: its URL and thread."""
    url = f"udp://127.0.0.1:{free_udp_port()}"
    ready = threading.Event()
    receiver = threading.Thread(target=receive, args=(url, frames, ready), daemon=True)
    receiver.start()
    ready.wait()
    return url, receiver


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.PSNR(a, b))


def test_stream_carries_the_stylized_frames(clip, expected, capsys):
    received: list[np.ndarray] = []
    url, receiver = start_receiver(received)
    code = main(["live", "--input", str(clip), "--stream", url, "--output-size", "320x240",
                 "--duration", "6", *STYLE_ARGS])
    receiver.join(30)
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(received) >= 30, f"only {len(received)} frames decoded"
    assert all(f.shape == (240, 320, 3) for f in received)
    best = [max(psnr(frame, e) for e in expected) for frame in received[5:]]
    assert np.median(best) > 30, f"decoded frames do not match the stylized ones (median PSNR {np.median(best):.1f} dB)"
    latency_lines = [line for line in out.splitlines() if line.startswith("fps")]
    assert latency_lines and "latency p50" in latency_lines[-1], out
    print(f"best-match PSNR median {np.median(best):.1f} dB over {len(best)} frames; last readout: {latency_lines[-1]}")


def test_recording_is_complete_and_under_its_name(clip, tmp_path, capsys):
    """A recording holds what the other outputs show: the output size, at the output's steady rate."""
    target = tmp_path / "live.mp4"
    assert main(["live", "--input", str(clip), "--record", str(target), "--duration", "3", "--output-size", "320x240",
                 "--output-fps", "20", *STYLE_ARGS]) == 0
    out = capsys.readouterr().out
    recorded = re.search(r"recorded (\d+) frames to", out)
    assert recorded and target.is_file(), out
    assert [p.name for p in tmp_path.iterdir()] == ["live.mp4"], "no temporary file left"
    with av.open(str(target)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == int(recorded.group(1)) >= 3 and (frames[0].width, frames[0].height) == SIZE
    times = [f.time for f in frames]
    assert times == sorted(times) and 1.0 < times[-1] - times[0] < 4.0, "wall-clock timestamps: real speed"
    steps = np.diff(times)
    assert 0.045 < float(np.median(steps)) < 0.055, f"paced at 20 fps, median step {np.median(steps):.3f} s"


@pytest.mark.parametrize("args, message", [
    (["--input", "missing.mp4"], "missing.mp4"),
    (["--camera", "no such camera"], "no camera named 'no such camera'"),
    (["--style", "nope"], "nope"),
    (["--stream", "rtmp://example.invalid/live"], "udp://"),
])
def test_bad_live_input_is_one_line(clip, capsys, args, message):
    if "--input" not in args and "--camera" not in args:
        args = ["--input", str(clip), *args]
    code = main(["live", *args, "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_output_checks_run_before_the_style_loads(clip, capsys):
    """The registry's checks (app/live/outputs.py) run before anything loads: a bad stream URL
    is said at once, not after a style (here a bad one, which would otherwise be said first) loads."""
    code = main(["live", "--input", str(clip), "--style", "nope", "--stream", "rtmp://example.invalid/live",
                 "--duration", "1"])
    out, err = capsys.readouterr()
    assert code == 1 and "udp://HOST:PORT" in err and "nope" not in err, err
    assert "device:" not in out, out


def test_missing_virtual_camera_gives_the_fix(clip, capsys):
    if Path("/dev/video0").exists():
        pytest.skip("a video device exists here; the missing-backend path cannot be shown")
    code = main(["live", "--input", str(clip), "--virtual-cam", "--duration", "1", *STYLE_ARGS])
    err = capsys.readouterr().err
    assert code == 1 and "modprobe v4l2loopback" in err, err


class PickingRegistry(StyleRegistry):
    """The real registry; while one style is being fetched the user picks another,
    which is the window's race (a combo change lands while a style loads)."""

    def __init__(self, loading: str, picked: str) -> None:
        super().__init__()
        self.loading, self.picked = loading, picked
        self.processor: LiveProcessor | None = None

    def get(self, name: str) -> Style:
        if name == self.loading and self.processor is not None:
            self.processor.update(style=self.picked)
        return super().get(name)


def test_a_style_picked_while_another_loads_takes_effect_next_frame():
    registry = PickingRegistry(loading="toon-lite", picked=FILTER_STYLE)
    processor = LiveProcessor(LiveSettings(style="toon-lite", mode="background", stability=0.0), registry=registry)
    registry.processor = processor
    assert processor.apply_settings().style == "toon-lite", "what is loaded is what is reported"
    assert isinstance(processor.stylizer._models["bg"], TTN)
    assert processor.apply_settings().style == FILTER_STYLE
    assert isinstance(processor.stylizer._models["bg"], ToonRenderer)


def test_a_style_that_fails_to_load_keeps_the_previous_one(tmp_path):
    (tmp_path / "broken.safetensors").write_bytes(b"not a style")
    notices: list[str] = []
    registry = StyleRegistry(user=tmp_path)
    processor = LiveProcessor(LiveSettings(style="toon-lite", mode="background"), registry=registry,
                              on_notice=notices.append)
    processor.apply_settings()
    processor.update(style="broken")
    assert processor.apply_settings().style == "toon-lite" and processor.settings.style == "toon-lite"
    assert len(notices) == 1 and "broken" in notices[0]


def test_a_background_that_cannot_be_used_keeps_the_previous_one(tmp_path):
    notices: list[str] = []
    processor = LiveProcessor(LiveSettings(style=FILTER_STYLE, mode="background", background="blur"),
                              on_notice=notices.append)
    try:
        processor.apply_settings()
        blur = processor.compositors.compositor
        assert blur is not None and blur.choice.kind.value == "blur"
        processor.update(background=str(tmp_path / "gone.png"))
        assert processor.apply_settings().background == "blur", "the background in force is the previous one"
        assert processor.settings.background == "blur", "the wish is taken back, so the window shows what runs"
        assert processor.compositors.compositor is blur, "the previous compositor keeps running"
        assert len(notices) == 1 and "gone.png" in notices[0]
    finally:
        processor.close()
