"""The Outputs tab's *Add to OBS* button against a real OBS (see ``tests/obs_studio.py``):
the offscreen window plays a clip, the button sets OBS up and starts the stream, and OBS's
source then shows the window's picture."""

from __future__ import annotations

import time

from PyQt6.QtCore import Qt

from app.obs.add_source import SOURCE_NAME
from app.obs.client import ObsRequestError
from tests.obs_studio import running_obs
from tests.test_gui import clip, next_frame, store, window  # noqa: F401 - fixtures
from tests.udp import free_udp_port


def test_add_to_obs_button_sets_obs_up_starts_the_stream_and_keeps_no_password(qtbot, window, store, tmp_path):  # noqa: F811
    outputs = window.outputs
    url = f"udp://127.0.0.1:{free_udp_port()}"
    outputs.stream_url.setText(url)
    next_frame(qtbot, window)
    with running_obs(tmp_path / "home") as obs:
        outputs.obs.address.setText(f"127.0.0.1:{obs.port}")
        outputs.obs.password.setText("never-saved-pass")  # OBS asks for none here: it is simply not used
        qtbot.mouseClick(outputs.obs.button, Qt.MouseButton.LeftButton)
        assert outputs.stream_button.isChecked(), outputs.status.text()
        assert ("added Media Source 'LiveToon' in scene 'Scene'; its output started" in outputs.status.text()), \
            outputs.status.text()
        with obs.client() as client:
            assert client.request("GetInputSettings", {"inputName": SOURCE_NAME})["inputSettings"]["input"] == url
            deadline = time.monotonic() + 40
            shot = None
            while shot is None or shot[..., :3].max() <= 40:
                assert time.monotonic() < deadline, "OBS showed no picture from the window's stream within 40 s"
                qtbot.wait(250)
                try:
                    shot = obs.screenshot(client, SOURCE_NAME)
                except ObsRequestError:  # no frame yet
                    shot = None
            assert shot.shape[:2] == (720, 1280), "the window's output size"

        qtbot.mouseClick(outputs.obs.button, Qt.MouseButton.LeftButton)  # again: updated, the stream left running
        assert "updated Media Source 'LiveToon'" in outputs.status.text() and "started" not in outputs.status.text()
        with obs.client() as client:
            assert [i["inputName"] for i in client.request("GetInputList")["inputs"]] == [SOURCE_NAME]
        closed_port = free_udp_port()
        outputs.obs.address.setText(f"127.0.0.1:{closed_port}")
        qtbot.mouseClick(outputs.obs.button, Qt.MouseButton.LeftButton)
        assert f"OBS is running but nothing answers at ws://127.0.0.1:{closed_port}" in outputs.status.text()
    outputs.stream_button.setChecked(False)
    store.sync()
    saved = (tmp_path / "livetoon.ini").read_text()
    assert f"obs_address=127.0.0.1:{closed_port}" in saved and "never-saved-pass" not in saved, saved


def shown_over(qtbot, window, seconds: float) -> int:  # noqa: F811 - the fixture's name
    """Frames the preview showed in ``seconds`` (each one a model run: the window's every-frame default)."""
    before = window.preview.frames_shown
    qtbot.wait(int(seconds * 1000))
    return window.preview.frames_shown - before


def test_the_model_rests_while_obs_hides_the_source_unless_switched_off(qtbot, window, tmp_path):  # noqa: F811
    outputs = window.outputs
    outputs.stream_url.setText(f"udp://127.0.0.1:{free_udp_port()}")
    next_frame(qtbot, window)
    with running_obs(tmp_path / "home") as obs:
        outputs.obs.address.setText(f"127.0.0.1:{obs.port}")
        qtbot.mouseClick(outputs.obs.button, Qt.MouseButton.LeftButton)
        assert outputs.stream_button.isChecked(), outputs.status.text()
        assert shown_over(qtbot, window, 1.5) > 0
        with obs.client() as client:
            client.request("CreateScene", {"sceneName": "Other"})
            client.request("SetCurrentProgramScene", {"sceneName": "Other"})
            qtbot.waitUntil(lambda: "OBS hides LiveToon's source: the model rests" in outputs.status.text(), timeout=5000)
            qtbot.wait(500)  # the frame in flight
            assert shown_over(qtbot, window, 2) == 0, "the model ran while OBS hid the source"

            outputs.obs.rest_check.setChecked(False)  # the switch: awake although hidden
            assert shown_over(qtbot, window, 2) > 0
            outputs.obs.rest_check.setChecked(True)
            qtbot.wait(500)
            assert shown_over(qtbot, window, 1.5) == 0

            client.request("SetCurrentProgramScene", {"sceneName": "Scene"})
            qtbot.waitUntil(lambda: "OBS shows LiveToon's source: the model runs" in outputs.status.text(), timeout=5000)
            assert shown_over(qtbot, window, 1.5) > 0
    outputs.stream_button.setChecked(False)
