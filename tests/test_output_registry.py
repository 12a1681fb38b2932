"""Every registered output, opened through the registry (``app.live.outputs``) into a
:class:`SinkSet` and received by a real receiver: FFmpeg reading the UDP stream, PyAV
decoding the recording, cyndilib receiving NDI (skipped without the optional extra,
except in CI), and the virtual camera's one-line fix where this machine has no device.

A new output must bring its own proof here: the test over the proofs fails until it does.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import av
import numpy as np
import pytest

from common.errors import LiveToonError

from app.gui.on_air import OUTPUT_BADGES
from app.gui.panels.outputs import TOGGLES
from app.live.ndi import INSTALL_HINT
from app.live.outputs import NDI, OUTPUTS, RECORD, STREAM, VIRTUAL_CAMERA, OutputRequest, open_output
from app.live.settings import OutputSettings
from app.live.sink_set import SinkSet
from app.live.sinks import virtual_camera_fix
from app.obs.visibility import OBS_OUTPUTS
from tests.conftest import in_ci
from tests.ndi_receiver import ndi_env  # noqa: F401 - fixture
from tests.test_sinks import listening_reader

W, H, FPS = 320, 240, 30.0
ORANGE = (0, 128, 255)
"""BGR: a colour whose channels all differ, so a swapped channel order shows."""


def send(sinks: SinkSet, seconds: float) -> None:
    """An orange picture to every sink in ``sinks`` (opaque BGRA to those with alpha), at the output rate."""
    frame = np.full((H, W, 3), ORANGE, np.uint8)
    for _ in range(round(seconds * FPS)):
        sinks.submit(frame)
        time.sleep(1 / FPS)


def assert_orange(image_bgr: np.ndarray) -> None:
    assert image_bgr.shape[:2] == (H, W)
    mean = image_bgr.reshape(-1, image_bgr.shape[2])[:, :3].mean(0)
    assert np.abs(mean - ORANGE).max() < 12, f"mean colour {mean} is not {ORANGE}"


def prove_virtual_camera(sinks: SinkSet, tmp_path: Path) -> None:
    """Without a device the registry says why in one line with the fix; with one, it is on the SinkSet."""
    try:
        sinks.set(VIRTUAL_CAMERA, open_output(VIRTUAL_CAMERA, OutputRequest(OutputSettings(W, H, FPS))))
    except LiveToonError as exc:
        assert str(exc).startswith("virtual camera unavailable") and virtual_camera_fix().prose in str(exc)
        assert sinks.get(VIRTUAL_CAMERA) is None
        return
    send(sinks, 0.3)
    assert f"{W}x{H}" in sinks.get(VIRTUAL_CAMERA).status


def prove_stream(sinks: SinkSet, tmp_path: Path) -> None:
    reader = listening_reader()
    sinks.set(STREAM, open_output(STREAM, OutputRequest(OutputSettings(W, H, FPS), f"udp://127.0.0.1:{reader.port}")))
    send(sinks, 2.5)  # the reader joins at a key frame, one a second
    sinks.set(STREAM, None)
    reader.join(15)
    assert reader.frames, f"nothing decoded ({reader.error!r})"
    assert_orange(reader.frames[-1][2])


def prove_record(sinks: SinkSet, tmp_path: Path) -> None:
    path = tmp_path / "registry.mp4"
    sinks.set(RECORD, open_output(RECORD, OutputRequest(OutputSettings(W, H, FPS), path, audio=sinks.audio)))
    send(sinks, 1.0)
    sink = sinks.get(RECORD)
    sinks.set(RECORD, None)  # finishes the file
    assert sink.saved == path and not sink.error
    with av.open(str(path)) as container:
        images = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    assert len(images) >= FPS / 2, f"{len(images)} frames in a one-second recording"
    assert_orange(images[-1])


def prove_ndi(sinks: SinkSet, tmp_path: Path) -> None:
    if importlib.util.find_spec("cyndilib") is None and not in_ci():  # CI installs it: there, its absence fails
        pytest.skip(f"receiving NDI needs the optional extra: {INSTALL_HINT}")
    from tests.ndi_receiver import LocalReceiver

    name = f"registry-{time.monotonic_ns()}"
    sinks.set(NDI, open_output(NDI, OutputRequest(OutputSettings(W, H, FPS), name)))
    try:
        send(sinks, 0.5)
        with LocalReceiver(name) as receiver:
            assert receiver.wait_for_first_frame(30)
            got = receiver.receive(1.0, keep_every=1)
            send(sinks, 0.2)
    finally:
        sinks.set(NDI, None)
    assert got.sizes == {(W, H)} and got.kept
    assert_orange(got.kept[-1])


PROOFS = {VIRTUAL_CAMERA: prove_virtual_camera, STREAM: prove_stream, RECORD: prove_record, NDI: prove_ndi}


def test_every_output_has_a_proof_and_every_front_end_knows_exactly_the_registry():
    assert set(PROOFS) == set(OUTPUTS)
    assert {toggle.name for toggle in TOGGLES} == set(OUTPUT_BADGES) == set(OUTPUTS)
    assert OBS_OUTPUTS == {STREAM, NDI}, "the rest logic lets the model rest only for outputs that feed OBS"
    with pytest.raises(KeyError, match="no output called 'vcam'"):
        SinkSet().set("vcam", None)


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_each_output_opens_through_the_registry_and_reaches_a_receiver(name, tmp_path, ndi_env):  # noqa: F811
    sinks = SinkSet()
    try:
        PROOFS[name](sinks, tmp_path)
    finally:
        sinks.close_all()


@pytest.mark.parametrize(("name", "target", "alpha", "why"), [
    (STREAM, "rtmp://example.org/live", False, "udp://HOST:PORT"),
    (RECORD, Path("cut-out.mp4"), True, "cannot carry transparency"),
])
def test_checks_refuse_before_anything_opens(name, target, alpha, why, tmp_path):
    request = OutputRequest(OutputSettings(W, H, FPS), target, alpha=alpha)
    with pytest.raises(LiveToonError, match=why):
        OUTPUTS[name].check(request)
    assert not Path(target).exists()
