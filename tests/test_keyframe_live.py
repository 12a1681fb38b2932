"""The live pipeline with the model on its own thread, and the keyframe options of the CLI.

Real frames (a real photo panned by a camera) arrive at a camera's pace; the real
processor (LiveProcessor with a real style) runs on them; the real propagation
stage fills the frames between.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from app.commands.cli import main
from app.frames import VideoFrame
from app.live.model_budget import ModelBudget
from app.live.pipeline import run_keyframe_pipeline
from app.live.processor import LiveProcessor
from app.live.settings import LiveSettings, parse_model_fps
from app.pipeline import Processed
from common.errors import LiveToonError
from dctnet.styles import FILTER_STYLE
from tests.clips import write_clip
from tests.test_flow import panning

CAMERA_FPS = 30.0


@pytest.fixture(scope="module")
def camera_images(astronaut_bgr) -> list[np.ndarray]:
    forth = panning(astronaut_bgr, 30, step=(1.0, 0.3), size=(192, 144))
    return forth + forth[::-1]


def camera(images: list[np.ndarray], seconds: float):
    """Frames at the camera's pace, looping over ``images``."""
    count = int(seconds * CAMERA_FPS)
    started = time.perf_counter()
    for i in range(count):
        time.sleep(max(0.0, started + i / CAMERA_FPS - time.perf_counter()))
        yield VideoFrame(images[i % len(images)], pts=i, time=i / CAMERA_FPS, index=i)


def run(images, seconds: float, **settings):
    processor = LiveProcessor(LiveSettings(mode="background", stability=0.0, device="cpu", **settings))
    processor.apply_settings()
    out: list[Processed] = []
    stats = run_keyframe_pipeline(camera(images, seconds), processor, out.append, threading.Event(),
                                  lambda: processor.settings, processor.times)
    return stats, out, processor


class SteppedCamera:
    """A camera on its own clock: frame ``i`` is at ``i / CAMERA_FPS`` s of :meth:`clock`, and
    comes only once the output has caught up with the one before (the model's first frame
    done, then each frame emitted; 10 s at most). So what goes out is the pipeline's
    decision alone, never a busy test machine's (the rate is `livetoon bench --live`'s,
    docs/benchmarks.md), and the model's cap is kept on the camera's clock."""

    def __init__(self, images: list[np.ndarray], seconds: float, out: list[Processed],
                 processor: LiveProcessor) -> None:
        self.images, self.count, self.out, self.processor = images, int(seconds * CAMERA_FPS), out, processor
        self.now = 0.0
        self.ended_at: float | None = None

    def clock(self) -> float:
        """The newest frame's time; after the last frame it runs on as the wall clock does."""
        return self.now + (time.perf_counter() - self.ended_at if self.ended_at is not None else 0.0)

    def _caught_up(self, index: int) -> bool:
        if index == 0:  # nothing goes out before the first keyframe
            return bool(self.processor.times.samples.get("model"))
        return bool(self.out) and self.out[-1].frame.index >= index

    def frames(self):
        waiting = True  # until the output once fails to catch up in 10 s: then no more waits (a broken pipeline fails fast)
        for i in range(self.count):
            deadline = time.perf_counter() + 10.0
            while waiting and i and not self._caught_up(i - 1):
                if time.perf_counter() > deadline:
                    waiting = False
                time.sleep(0.001)
            self.now = i / CAMERA_FPS
            yield VideoFrame(self.images[i % len(self.images)], pts=i, time=self.now, index=i)
        self.ended_at = time.perf_counter()


def test_every_camera_frame_goes_out_while_the_model_is_capped(camera_images):
    """The README's promise for ``--model-fps auto|N``: every camera frame goes out, the
    model capped on the camera's clock."""
    processor = LiveProcessor(LiveSettings(mode="background", stability=0.0, device="cpu", style="toon-lite",
                                           model_fps="4"))
    processor.apply_settings()
    out: list[Processed] = []
    camera = SteppedCamera(camera_images, 3.0, out, processor)
    stats = run_keyframe_pipeline(camera.frames(), processor, out.append, threading.Event(),
                                  lambda: processor.settings, processor.times, model_clock=camera.clock)
    indices = [p.frame.index for p in out]
    assert indices == sorted(set(indices)), "in order, never twice"
    assert len(indices) >= 0.95 * 90, f"{len(indices)} of 90 camera frames went out"
    model_runs = len(processor.times.samples["model"])
    assert model_runs <= 4 * 3 + 2, f"the model ran {model_runs} times in 3 s of the camera's clock, capped at 4 fps"
    assert stats.propagated >= 3 * model_runs, stats
    assert stats.processed == len(out) == stats.keyframes + stats.propagated
    assert len(processor.times.samples["latency"]) == len(out)


def test_uncapped_model_runs_more_often_than_capped(camera_images):
    _, _, capped = run(camera_images, 2.0, style=FILTER_STYLE, model_fps="2")
    _, out, auto = run(camera_images, 2.0, style=FILTER_STYLE, model_fps="auto")
    assert len(capped.times.samples["model"]) <= 2 * 2 + 2
    assert len(auto.times.samples["model"]) > 2 * len(capped.times.samples["model"])
    assert len(out) > 2 * len(capped.times.samples["model"])


def test_every_mode_sends_only_the_model_frames(camera_images):
    stats, out, processor = run(camera_images, 2.0, style="toon-lite", model_fps="every")
    assert stats.propagated == 0 and stats.processed == stats.keyframes == len(out) > 0
    assert all(np.array_equal(p.output, p.styled) for p in out), "stability 0: each model frame as it is"


def test_propagated_frames_follow_the_camera(camera_images):
    """Between keyframes the output moves with the picture: each frame is closer to its
    own frame's cartoon than the keyframe it was carried from."""
    stats, out, processor = run(camera_images, 2.0, style=FILTER_STYLE, model_fps="3")
    stylizer = processor.stylizer
    gains = []
    for p in out[10:40]:
        own = stylizer.stylize(p.frame.image, [])
        carried_error = np.abs(p.output.astype(int) - own).mean()
        gains.append(carried_error)
    assert np.median(gains) < 6, f"median |propagated - own cartoon| {np.median(gains):.1f} levels"


def test_a_capped_model_keeps_its_budget_when_every_frame_asks_for_a_keyframe(camera_images):
    """Every other frame is the picture's negative: each carried frame is untrusted and
    asks for a keyframe at once. A cap of 4 fps still holds over the run."""
    cuts = [image if i % 2 == 0 else 255 - image for i, image in enumerate(camera_images)]
    stats, out, processor = run(cuts, 3.0, style=FILTER_STYLE, model_fps="4")
    model_runs = len(processor.times.samples["model"])
    assert stats.propagated > 20, stats
    assert model_runs <= 4 * 3 + 2, f"the model ran {model_runs} times in 3 s with a cap of 4 fps"


def test_the_budget_lets_a_forced_keyframe_come_half_a_period_early_and_repays_it():
    now = [0.0]
    budget = ModelBudget(clock=lambda: now[0])
    assert budget.wait(2.0, forced=False) == 0.0
    budget.spend(2.0)  # t = 0
    now[0] = 0.3
    assert budget.wait(2.0, forced=False) == pytest.approx(0.2), "the next turn at 0.5 s"
    assert budget.wait(2.0, forced=True) == 0.0, "forced: half a period early is allowed"
    budget.spend(2.0)  # t = 0.3
    now[0] = 0.5
    assert budget.wait(2.0, forced=False) == pytest.approx(0.5), "the turn at 0.5 s was spent early: the next is at 1 s"
    assert budget.wait(2.0, forced=True) == pytest.approx(0.25)
    assert budget.wait(None, forced=False) == 0.0, "no cap: no wait"


def thread_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
@pytest.mark.parametrize("model_fps, lower", [("auto", True), ("every", False)])
def test_the_model_yields_the_cpu_to_the_output_when_frames_are_carried(camera_images, model_fps, lower):
    """With every camera frame going out, the output thread must win a core over the model
    (measured with a busy process beside it: 29.97 output fps instead of 29.24, latency p50
    22 ms instead of 58); with only model frames going out, the model is the output."""
    processor = LiveProcessor(LiveSettings(mode="background", stability=0.0, device="cpu", style=FILTER_STYLE,
                                           model_fps=model_fps))
    processor.apply_settings()
    model_niceness: list[int] = []
    output_niceness: list[int] = []

    def process(frame: VideoFrame) -> Processed:
        model_niceness.append(thread_niceness())
        return processor(frame)

    def sink(processed: Processed) -> None:
        output_niceness.append(thread_niceness())

    run_keyframe_pipeline(camera(camera_images, 1.0), process, sink, threading.Event(), lambda: processor.settings,
                          processor.times)
    assert model_niceness and output_niceness
    assert set(output_niceness) == {thread_niceness()}, "the output thread keeps the caller's priority"
    assert (min(model_niceness) > output_niceness[0]) == lower, (model_niceness[:3], output_niceness[0])


@pytest.mark.parametrize("text, value", [("auto", "auto"), ("every", "every"), ("10", "10"), ("7.5", "7.5")])
def test_model_fps_values(text, value):
    assert parse_model_fps(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "fast", ""])
def test_bad_model_fps_is_refused(text):
    with pytest.raises(LiveToonError, match="model fps"):
        parse_model_fps(text)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, camera_images):
    return write_clip(tmp_path_factory.mktemp("kf") / "clip.mp4", size=(192, 144), rate=Fraction(30),
                      images=camera_images[:30], audio=("aac",))


def test_live_bad_model_fps_is_one_line(clip, capsys):
    code = main(["live", "--input", str(clip), "--model-fps", "fast", "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "model fps" in err and len(err.strip().splitlines()) == 1, err


def test_live_records_every_frame_with_a_capped_model(clip, tmp_path, capsys):
    target = tmp_path / "live.mp4"
    code = main(["live", "--input", str(clip), "--record", str(target), "--duration", "3", "--model-fps", "3",
                 "--style", FILTER_STYLE, "--mode", "background", "--device", "cpu", "--output-fps", "30"])
    out = capsys.readouterr().out
    assert code == 0, out
    carried = re.search(r"processed (\d+) frames.*; (\d+) carried from the model's frames", out)
    assert carried, out
    assert int(carried.group(2)) > 2 * (int(carried.group(1)) - int(carried.group(2))), out
    with av.open(str(target)) as container:
        assert len(list(container.decode(video=0))) >= 30


def test_convert_keyframes_stylizes_every_nth_frame(clip, tmp_path, capsys):
    target = tmp_path / "out.mp4"
    code = main(["convert", str(clip), "-o", str(target), "--keyframes", "3", "--style", FILTER_STYLE,
                 "--mode", "background", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "keyframes: 10 of 30 frames stylized" in out, out
    with av.open(str(target)) as container:
        assert len(list(container.decode(video=0))) == 30 and len(container.streams.audio) == 1


def test_convert_bad_keyframes_is_a_usage_error(clip, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(clip), "-o", str(tmp_path / "o.mp4"), "--keyframes", "0"])
    assert exit_info.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_bench_live_reports_model_and_output_rates(tmp_path, camera_images, capsys):
    import json

    clip = write_clip(tmp_path / "pingpong.mp4", size=(192, 144), rate=Fraction(30), images=camera_images, audio=())
    code = main(["bench", "--live", "--input", str(clip), "--seconds", "7", "--model-fps", "3", "--style", FILTER_STYLE,
                 "--mode", "background", "--device", "cpu", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["model_fps"] <= 4 and report["output_fps"] > 2 * report["model_fps"], report
    assert 0.5 < report["propagated_share"] <= 1.0 and report["latency"]["p95_ms"] > 0, report
    assert len(report["load_average"]) == 3
