"""The one-call GPU check, rehearsed on the CPU in a venv shaped like the GPU machine's image.

That image has torch, numpy 2, headless OpenCV, safetensors, scikit-image, pillow and
protobuf, and lacks MediaPipe, PyAV, PyQt6, pyvirtualcam and platformdirs. GPU time
is scarce, so every step of the check must already have run end to end here, under
numpy 2 and without those packages, before it is spent. The same venv runs the
``dctnet``/``flow`` unit tests under numpy 2 (the app itself pins numpy<2 for
MediaPipe, and the rest of the suite covers that).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.conftest import REPO_ROOT

IMAGE_PACKAGES = ("numpy>=2", "opencv-python-headless", "safetensors", "scikit-image", "pillow", "protobuf", "pytest")
TORCH = "torch==2.13.0"
"""The CPU build on this project's machines (the image has a CUDA build of torch 2.11)."""
ABSENT_THERE = ("mediapipe", "av", "PyQt6", "platformdirs", "pyvirtualcam")
NUMPY_2_TESTS = ("tests/test_flow.py", "tests/test_align.py", "tests/test_engine.py", "tests/test_weights.py")
CARRY_LIMIT_MIB = 48
IMAGE_VENV_SKIPS = Counter({
    ("tests.test_align", "MediaPipe is not installed"): 5,
    ("tests.test_engine", "MediaPipe is not installed"): 2,
    ("tests.test_weights", "LiteRT is not installed"): 7,
    ("tests.test_flow", "DeepFlow is in opencv-contrib-python"): 1,
})
"""(module, reason): how many of NUMPY_2_TESTS skip there, for a package the GPU image lacks."""


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


@pytest.fixture(scope="session")
def image_venv(tmp_path_factory) -> Path:
    """A venv with the image's packages only; ``LIVETOON_IMAGE_VENV`` names one to reuse."""
    reuse = os.environ.get("LIVETOON_IMAGE_VENV")
    if reuse:
        return Path(reuse)
    venv = tmp_path_factory.mktemp("image-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for packages in ([TORCH], list(IMAGE_PACKAGES)):
        done = subprocess.run(pip + packages, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"cannot build the image-like venv: {done.stderr[-2000:]}")
            pytest.skip(f"cannot build the image-like venv here (offline?): {done.stderr.strip().splitlines()[-1]}")
    return venv


@pytest.fixture(scope="session")
def kit(tmp_path_factory) -> Path:
    """Faces, clip frames and (with ../shared) the LiteRT reference, made here with MediaPipe."""
    out = tmp_path_factory.mktemp("gpu-kit")
    subprocess.run([sys.executable, "-m", "benchmarks.gpu_kit", "--out", str(out)], cwd=REPO_ROOT, check=True,
                   capture_output=True, timeout=600)
    return out


def run_in(venv: Path, *args: str, data_dir: Path | None = None, timeout: float = 1200,
           ci: bool = True) -> subprocess.CompletedProcess:
    """``args`` in the venv on this checkout; without ``data_dir`` the code must find its own (no
    platformdirs there). ``ci=False`` drops ``CI``: there the image's missing packages are
    expected skips (counted by the caller), not the failures CI makes of them."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    if not ci:
        env.pop("CI", None)
    env.pop("LIVETOON_DATA_DIR", None)
    if data_dir is not None:
        env["LIVETOON_DATA_DIR"] = str(data_dir)
    return subprocess.run([str(venv_python(venv)), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_venv_is_shaped_like_the_gpu_image(image_venv):
    probe = ("import importlib.util, numpy; print(numpy.__version__); "
             f"print([m for m in {ABSENT_THERE!r} if importlib.util.find_spec(m)])")
    numpy_version, present = run_in(image_venv, "-c", probe).stdout.split("\n")[:2]
    assert numpy_version.startswith("2."), numpy_version
    assert present == "[]", f"the image lacks these, the rehearsal venv must too: {present}"


def test_rehearsal_runs_every_step_and_fits_the_carry_limit(image_venv, kit, tmp_path):
    out = tmp_path / "checks"
    done = run_in(image_venv, "-m", "benchmarks.gpu_checks", "--rehearse", "--kit", str(kit), "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((out / "gpu_checks.json").read_text())
    assert result["environment"]["numpy"].startswith("2.")
    steps = result["steps"]
    assert set(steps) == {"equality", "litert", "model_720p", "pipeline", "memory", "training", "keyframes", "stabilizer",
                          "propagation", "device_chain", "throughput", "live_latency", "gpu_share", "under_load",
                          "convert_720p"}
    assert all(step["ok"] for step in steps.values()), {k: v.get("error") for k, v in steps.items()}
    assert steps["pipeline"]["runs"][0]["frames"] > 0 and steps["training"]["steps"] > 0
    assert {row["run"] for row in steps["throughput"]["rows"]} == {"default", "--background transparent", "keyframes auto"}
    assert [row["camera_fps"] for row in steps["live_latency"]["rows"]] == [30, 60]
    assert [row["low_priority_stream"] for row in steps["under_load"]["rows"]] == [True, False]
    assert steps["convert_720p"]["written"] == steps["convert_720p"]["frames"] > 0
    assert {(row["background"], row["picture"]) for row in steps["device_chain"]["rows"]} >= {("transparent", "alpha")}
    command_chars = int(re.search(r"device command \((\d+) characters\)", done.stdout).group(1))
    travels_mib = float(re.search(r"travels: .* = ([\d.]+) MiB", done.stdout).group(1))
    assert command_chars <= 2000 and travels_mib <= CARRY_LIMIT_MIB, done.stdout[-1500:]


def test_dctnet_and_flow_tests_pass_under_numpy_2(image_venv, tmp_path):
    """Every test runs but those that need what the image lacks, and exactly those skip: a
    count of passes alone would not see a MediaPipe, LiteRT or DeepFlow test skip for
    another reason, nor a test that stopped running at all."""
    report = tmp_path / "numpy2.xml"
    done = run_in(image_venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *NUMPY_2_TESTS,
                  data_dir=tmp_path, ci=False)
    assert done.returncode == 0, done.stdout[-3000:]
    suite = ElementTree.parse(report).getroot().find("testsuite")
    skipped = Counter((case.get("classname"), skip.get("message", "").split(" (")[0].split(";")[0])
                      for case in suite.iter("testcase") for skip in case.findall("skipped"))
    assert skipped == IMAGE_VENV_SKIPS, f"skipped in the numpy-2 venv: {dict(skipped)}"
    ran = int(suite.get("tests")) - sum(skipped.values())
    assert ran >= 50 and int(suite.get("failures")) == int(suite.get("errors")) == 0, suite.attrib
