"""The NDI output, received by a real NDI receiver (cyndilib) on this machine.

Needs the optional extra (``pip install -e ".[ndi]"``; ``.ci/run`` installs it); without
it the receiving tests skip and say so, and ``--ndi`` fails in one line with the fix.
Discovery goes through the loopback configuration of ``tests/ndi_receiver.py``
(no multicast needed).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from app.live.ndi import INSTALL_HINT
from tests.conftest import in_ci
from tests.ndi_receiver import ndi_env  # noqa: F401 - fixture

HAS_CYNDILIB = importlib.util.find_spec("cyndilib") is not None
needs_cyndilib = pytest.mark.skipif(not HAS_CYNDILIB and not in_ci(),  # CI installs it: there, its absence fails
                                    reason=f"NDI tests need the optional extra: {INSTALL_HINT}")
ROOT = Path(__file__).resolve().parents[1]
FPS = 30
SECONDS = 4
"""How long the test receives: long enough to see frames keep coming. The rate itself (the
set rate, over 10 s) is measured by ``python -m benchmarks.ndi_rate``."""
START_SECONDS = 180
"""Loading torch, MediaPipe and the style can take a minute on a loaded 2-core machine."""
PHOTO_SIZE = (512, 512)
LIGHT_STYLE = ["--style", "toon-lite", "--max-size", "360", "--device", "cpu"]


def person_photo_clip(path: Path) -> Path:
    """A real photo of a person held still for 2 s (looped by ``--input``): the pipeline's
    matte of it is the same on every frame, so the one made here is what must arrive."""
    from tests.clips import photo_bgr, write_clip

    return write_clip(path, frames=48, size=PHOTO_SIZE, rate=Fraction(24), audio=(),
                      images=[photo_bgr()] * 48)


def independent_matte(clip: Path) -> np.ndarray:
    """MediaPipe's own selfie mask of the still photo as PyAV decodes it: made apart from the
    code under test (no LiveProcessor, no matte package)."""
    import av

    from tests.alpha_frames import selfie_alphas

    with av.open(str(clip)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="bgr24")
    return selfie_alphas([first])[0]


def read_lines(stream, lines: list[str], ndi_up: threading.Event) -> None:
    for line in stream:
        lines.append(line.rstrip())
        if line.startswith("NDI:"):
            ndi_up.set()


@needs_cyndilib
@pytest.mark.parametrize("model_fps", ["every", "auto"])
def test_live_ndi_end_to_end(ndi_env, tmp_path, model_fps):
    """``livetoon live --input CLIP --background transparent --ndi NAME`` received by cyndilib:
    frames keep coming, BGRA at the set size, their alpha the person MediaPipe cuts out of the
    photo; with ``--model-fps auto`` too, where most frames are carried and composited on the
    output thread."""
    from tests.alpha_frames import cutout_agreement
    from tests.ndi_receiver import LocalReceiver

    clip = person_photo_clip(tmp_path / "still.mp4")
    name = f"livetoon-test-{os.getpid()}"
    matte = independent_matte(clip)
    command = [sys.executable, str(ROOT / "main.py"), "live", "--input", str(clip), "--background", "transparent",
               "--ndi", name, "--model-fps", model_fps,
               "--output-size", f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}", "--output-fps", str(FPS), "--duration", "300",
               *LIGHT_STYLE]
    process = subprocess.Popen(command, env=ndi_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=ROOT)
    lines: list[str] = []
    ndi_up = threading.Event()
    threading.Thread(target=read_lines, args=(process.stdout, lines, ndi_up), daemon=True).start()
    try:
        assert ndi_up.wait(START_SECONDS), "\n".join(lines)
        with LocalReceiver(name) as receiver:
            assert receiver.wait_for_first_frame(30), "\n".join(lines)
            got = receiver.receive(SECONDS, keep_every=10)
    finally:
        process.send_signal(signal.SIGINT)  # the normal way to end a live run
        code = process.wait(60)
    assert code == 0, "\n".join(lines)
    print(f"{len(got.stamps)} distinct frames in {SECONDS} s at {FPS} fps set; {got.fourccs}; load {os.getloadavg()[0]:.1f}")
    assert len(got.kept) >= 3 and got.stamps == sorted(set(got.stamps)), "distinct frames keep coming, in order"
    assert got.fourccs == {"BGRA"} and got.sizes == {PHOTO_SIZE}
    assert 0.1 < (matte > 127).mean() < 0.9, "MediaPipe finds a person in the photo"
    cards = next((i for i, frame in enumerate(got.kept) if frame[..., 3].min() < 255), len(got.kept))
    cut_outs = got.kept[cards:]  # after the opaque "waiting for the cartoon" card, if it was still up
    agreement = [cutout_agreement(frame[..., 3], matte) for frame in cut_outs]
    print(f"{cards} opaque card(s), then alpha vs MediaPipe's own mask: (IoU, mean levels) "
          f"{np.round(agreement, 2).tolist()}")
    assert len(agreement) >= 3 and min(iou for iou, _ in agreement) >= 0.88, agreement
    assert max(diff for _, diff in agreement) <= 12, agreement


def test_ndi_without_the_extra_fails_in_one_line(tmp_path):
    """With cyndilib unimportable (a module of that name that raises, first on the path), --ndi says how to get it."""
    (tmp_path / "cyndilib.py").write_text("raise ImportError('No module named cyndilib')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    code = ("import sys; from app.live.ndi import NdiSink\n"
            "from common.errors import LiveToonError\n"
            "try:\n    NdiSink('x')\nexcept LiveToonError as exc:\n    print(exc); sys.exit(1)\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stdout.strip().endswith(INSTALL_HINT) and len(result.stdout.strip().splitlines()) == 1
