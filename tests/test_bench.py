"""``livetoon bench``, ``benchmarks/gpu_checks.py`` and the GPU path's steps run on the CPU.

No timing is asserted (this machine is shared); the tests check that every stage is
measured and reported, that errors are one clear line, and that the on-device path
(:class:`TensorOps`, used on CUDA) computes what the OpenCV path computes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from app.commands import bench
from app.commands.cli import main
from app.chain_builder import build_chain
from app.commands.convert import CONVERT_CHAIN
from app.pipeline import StageTimes
from dctnet.engine import Stylizer
from dctnet.frame_ops import FrameOps, TensorOps, warp
from common.errors import LiveToonError
from faces.finder import FaceDetector
from flow.two_sided import FILE_STABILITY, TwoSidedStabilizer
from tests.clips import write_clip
from tests.conftest import REPO_ROOT, needs_reference

PIPELINE_STAGES = {"decode", "face", "bg pass", "blend", "stylize", "flow", "stabilize", "encode", "frame"}
"""``frame``: each push of the chain, timed (it was never reported: the file pipeline calls ``push``)."""


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("bench") / "clip.mp4", frames=6, audio=())


def run_json(capsys, *argv: str) -> dict:
    assert main(["bench", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_reports_every_stage_of_a_real_clip(capsys, clip):
    report = run_json(capsys, "--input", str(clip), "--frames", "3", "--size", "360p", "--device", "cpu")
    env = report["environment"]
    assert env["device"].startswith("cpu") and env["dtype"] == "float32" and env["torch"] == torch.__version__
    assert "cuda" in env
    (run,) = report["runs"]
    assert (run["height"], run["frames"]) == (360, 3) and run["fps"] > 0
    assert PIPELINE_STAGES <= set(run["stages"])
    for row in [*run["stages"].values(), run["latency"]]:
        assert 0 <= row["median_ms"] <= row["p95_ms"]


def test_bench_synthetic_input_runs_the_head_pass(capsys):
    report = run_json(capsys, "--frames", "1", "--warmup", "0", "--size", "360p", "--device", "cpu", "--style", "toon-lite")
    assert {"head pass", *PIPELINE_STAGES} <= set(report["runs"][0]["stages"])


def test_bench_times_the_chain_convert_runs():
    """bench said it timed the convert chain but ran the one-sided live stabilizer; convert
    runs the two-sided one, at convert's default stability, and holds frames back."""
    from dctnet.network import TTN

    weights = TTN(8).state_dict()
    stylizer = Stylizer(weights, weights, device="cpu", mode="full")
    timed = bench.timed_processor(stylizer, None, False, StageTimes())
    converted = build_chain(stylizer, None, CONVERT_CHAIN)
    assert isinstance(timed.stabilizer, TwoSidedStabilizer) and type(timed.stabilizer) is type(converted.stabilizer)
    assert timed.stabilizer.stability == converted.stabilizer.stability == FILE_STABILITY


@needs_reference
def test_compare_litert_on_the_reference_graphs(capsys):
    report = run_json(capsys, "--compare", "litert", "--style", "anime", "--frames", "1", "--warmup", "0", "--device", "cpu")
    assert set(report["compare"]) == {"head", "bg"}
    for row in report["compare"].values():
        assert row["ratio_ours_over_litert"] > 0 and row["max_abs_diff_lsb"] <= 1


@pytest.mark.parametrize("argv, message", [
    (["--compare", "litert", "--reference", "{tmp}/nowhere"], "no reference graphs"),
    (["--input", "{tmp}/missing.mp4"], "no such file"),
    (["--size", "native"], "unknown --size"),  # known only with --input; an unknown name is bad usage (exit 2)
])
def test_bad_input_is_one_clear_line(capsys, tmp_path, argv, message):
    assert main(["bench", *(a.format(tmp=tmp_path) for a in argv)]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_litert_is_a_clear_error(monkeypatch, tmp_path):
    for name in ("ai_edge_litert", "ai_edge_litert.interpreter"):  # a None entry makes the import fail
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(LiveToonError, match="pip install ai-edge-litert"):
        bench.litert_runner(tmp_path / "bg.tflite")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: gpu_checks would run for real")
def test_gpu_checks_without_cuda_exits_2_with_one_line():
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_checks"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("gpu_checks: no usable CUDA GPU:") and len(done.stderr.strip().splitlines()) == 1


# -- the CUDA path's steps, on CPU tensors ---------------------------------------------------
def test_warp_matches_opencv_warp_affine():
    """Noise makes any half-pixel slip obvious; on a quarter-pixel grid OpenCV's fixed point is exact."""
    image = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    to_source = np.array([[0.75, 0.0, 3.25], [0.0, 1.25, -2.5]])  # partly outside: the white border shows
    expected = cv2.warpAffine(image, to_source, (90, 50), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    ours = warp(tensor, to_source, (50, 90), 255.0).round()[0].permute(1, 2, 0).numpy()
    assert (expected == 255).all(axis=2).any() and np.abs(ours - expected).max() <= 1


@pytest.mark.parametrize(("mode", "region"), [("full", None), ("face", None),
                                              ("full", [(300, 120, 700, 500), (200, 500, 1000, 800)])])
def test_tensor_path_matches_the_opencv_path(astronaut_bgr, mode, region):
    torch.manual_seed(0)
    from dctnet.network import TTN

    weights = TTN(8).state_dict()
    with FaceDetector(static_image_mode=True) as detector:
        faces = detector.detect(astronaut_bgr)
    frame = cv2.resize(astronaut_bgr, (1000, 800), interpolation=cv2.INTER_CUBIC)  # downscaled, then scaled back
    faces = [f.scaled(1000 / 512) for f in faces]
    stylizer = Stylizer(weights, weights, device="cpu", mode=mode)
    assert isinstance(stylizer.ops, FrameOps)
    reference = stylizer.stylize(frame, faces, region)
    stylizer.ops = TensorOps(stylizer.infer, stylizer.padding, stylizer.choice.device)
    diff = np.abs(stylizer.stylize(frame, faces, region).astype(int) - reference.astype(int))
    assert diff.max() <= 4 and diff.mean() < 0.2
