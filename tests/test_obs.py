"""``livetoon obs add`` against a real OBS Studio (29.x, obs-websocket 5), started per test.

The picture test runs ``livetoon live --stream`` as a user would, then reads what OBS's
``LiveToon`` source shows through obs-websocket's GetSourceScreenshot and compares it
with the cartoon LiveToon makes of the same clip. Only the NDI branch cannot run here
(DistroAV is not packaged by Debian): it is checked against OBS's own GetInputKindList
answer with DistroAV's kind added.
"""

from __future__ import annotations

import base64
import hashlib
import signal
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.commands.cli import main
from app.media.video_in import VideoReader
from app.obs.client import ObsClient, ObsError, ObsRequestError
from app.obs.add_source import KEY_FILTER_KIND, MEDIA_KIND, NDI_KIND, SOURCE_NAME, Target, choose_kind, ndi_settings
from dctnet.engine import Stylizer
from dctnet.styles import StyleRegistry
from tests.alpha_frames import decode_bgra
from tests.clips import write_clip
from tests.conftest import REPO_ROOT
from tests.obs_studio import Obs, running_obs
from tests.test_live import STYLE_ARGS
from tests.udp import free_udp_port

SIZE = (320, 240)
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
FRAMES = 48
# OBS 29.0.2's real answer to GetInputKindList {"unversioned": true} (this Debian build),
# with "ndi_source", the kind DistroAV (formerly obs-ndi) registers, added.
KINDS_WITH_DISTROAV = ["image_source", "color_source", "slideshow", "alsa_input_capture", "xshm_input",
                       "jack_output_capture", "pulse_input_capture", "pulse_output_capture", "v4l2_input",
                       "ffmpeg_source", "text_ft2_source", "vlc_source", "ndi_source"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("obs") / "clip.mp4", frames=FRAMES, size=SIZE, rate=Fraction(24), audio=())


@pytest.fixture(scope="module")
def cartoons(clip) -> list[np.ndarray]:
    """LiveToon's own output for every frame of the clip (what the stream carries)."""
    stylizer = Stylizer.from_style(StyleRegistry().get("toon-lite"), device="cpu", mode="background")
    with VideoReader(clip) as reader:
        return [stylizer.stylize(frame.image, []) for frame in reader]


@pytest.fixture
def obs(tmp_path) -> Obs:
    with running_obs(tmp_path / "home") as started:
        yield started


def obs_add(obs: Obs, *args: str) -> int:
    return main(["obs", "add", "--port", str(obs.port), *args])


def start_live(clip: Path, url: str, *args: str, seconds: float = 60) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "main.py"), "live", "--input", str(clip), "--stream", url,
                             "--output-size", f"{SIZE[0]}x{SIZE[1]}", "--duration", str(seconds), *STYLE_ARGS, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def best_psnr(image: np.ndarray, references: list[np.ndarray]) -> float:
    return max(float(cv2.PSNR(image, reference)) for reference in references)


def wait_for_picture(obs: Obs, client, seconds: float) -> tuple[np.ndarray, float]:
    """The first screenshot with a picture in it (the source is empty until the stream arrives)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            shot = obs.screenshot(client, SOURCE_NAME)
        except ObsRequestError:  # "Failed to render screenshot": no frame yet, the source is 0x0
            time.sleep(0.25)
            continue
        if shot.shape[:2] == (SIZE[1], SIZE[0]) and shot[..., :3].max() > 40:
            return shot, time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"OBS's LiveToon source showed no picture within {seconds:g} s")


def finish(live: subprocess.Popen) -> str:
    """Ctrl-C, as a user ends ``livetoon live`` (exit 0), and its output."""
    live.send_signal(signal.SIGINT)
    try:
        out, _ = live.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        live.kill()
        out, _ = live.communicate()
    return out


def test_obs_add_then_live_stream_shows_the_cartoon_in_obs(obs, clip, cartoons, capsys):
    url = f"udp://127.0.0.1:{free_udp_port()}"
    assert obs_add(obs, "--stream", url) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("OBS 29.") and line.endswith(
        f": added Media Source 'LiveToon' in scene 'Scene'; feed it with `livetoon live --stream {url}`"), line
    live = start_live(clip, url)
    try:
        with obs.client() as client:
            settings = client.request("GetInputSettings", {"inputName": SOURCE_NAME})
            assert settings["inputKind"] == MEDIA_KIND
            assert {k: settings["inputSettings"][k] for k in ("input", "input_format", "buffering_mb",
                                                               "reconnect_delay_sec", "restart_on_activate")} == {
                "input": url, "input_format": "mpegts", "buffering_mb": 0, "reconnect_delay_sec": 1,
                "restart_on_activate": False}
            shot, waited = wait_for_picture(obs, client, 40)
            time.sleep(1.5)  # past the first key frame's start-up
            shots = [obs.screenshot(client, SOURCE_NAME)[..., :3]]
            for _ in range(4):
                time.sleep(0.5)
                shots.append(obs.screenshot(client, SOURCE_NAME)[..., :3])
    finally:
        out = finish(live)
    assert live.returncode == 0, out
    with VideoReader(clip) as reader:
        camera = [frame.image for frame in reader]
    to_cartoon = [best_psnr(s, cartoons) for s in shots]
    to_camera = [best_psnr(s, camera) for s in shots]
    print(f"first picture after {waited:.1f} s; PSNR to the cartoon {to_cartoon}, to the camera {to_camera}")
    assert np.median(to_cartoon) > 25, f"OBS does not show LiveToon's cartoon (PSNR {to_cartoon})"
    assert np.median(to_cartoon) > np.median(to_camera) + 3, "OBS shows the camera picture, not the cartoon"
    changes = [float(np.abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(shots, shots[1:])]
    assert sum(change > 1.0 for change in changes) >= 3, f"OBS's picture does not move: mean changes {changes}"


def test_obs_add_twice_leaves_one_source_and_an_unknown_scene_is_one_line(obs, capsys):
    assert obs_add(obs) == 0
    assert obs_add(obs, "--background", "transparent") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("OBS 29") and "added Media Source 'LiveToon' in scene 'Scene'" in out[0], out
    assert "updated Media Source 'LiveToon' with a Chroma Key filter" in out[1], out
    with obs.client() as client:
        names = [item["inputName"] for item in client.request("GetInputList")["inputs"]]
        items = client.request("GetSceneItemList", {"sceneName": "Scene"})["sceneItems"]
        filters = client.request("GetSourceFilterList", {"sourceName": SOURCE_NAME})["filters"]
    assert names == [SOURCE_NAME]
    assert [item["sourceName"] for item in items] == [SOURCE_NAME]
    assert [(f["filterKind"], f["filterSettings"]["key_color_type"]) for f in filters] == [(KEY_FILTER_KIND, "green")]
    assert obs_add(obs) == 0  # back to an opaque picture: the key goes
    with obs.client() as client:
        assert client.request("GetSourceFilterList", {"sourceName": SOURCE_NAME})["filters"] == []
    assert obs_add(obs, "--stream", "udp://192.168.1.20:9998") == 0  # LiveToon on another machine sends here
    with obs.client() as client:
        assert client.request("GetInputSettings", {"inputName": SOURCE_NAME})["inputSettings"]["input"] == \
            "udp://0.0.0.0:9998", "OBS can only listen on its own addresses"
    assert obs_add(obs, "--scene", "Stage") == 1
    err = capsys.readouterr().err
    assert err == "livetoon: error: OBS has no scene 'Stage': choose one of 'Scene' (or leave out --scene for the current one)\n"


def test_wrong_password_is_one_line_and_the_right_one_works(tmp_path, capsys, monkeypatch):
    with running_obs(tmp_path / "home", password="s3cret-pass") as obs:
        assert obs_add(obs, "--password", "wrong") == 1
        err = capsys.readouterr().err
        assert err.startswith("livetoon: error: OBS refused the password at ws://127.0.0.1:")
        assert "Tools > WebSocket Server Settings > Show Connect Info" in err and err.count("\n") == 1, err
        assert obs_add(obs) == 1
        assert "OBS asks for a password" in capsys.readouterr().err
        monkeypatch.setenv("LIVETOON_OBS_PASSWORD", "s3cret-pass")  # the SHA-256 challenge answered right
        assert obs_add(obs) == 0
        assert "added Media Source" in capsys.readouterr().out


def test_obs_not_running_and_server_off_each_give_their_fix(tmp_path, capsys):
    port = str(free_udp_port())
    assert main(["obs", "add", "--port", port]) == 1
    err = capsys.readouterr().err
    assert err == (f"livetoon: error: OBS is not running (nothing answers at ws://127.0.0.1:{port}): start OBS 28 or "
                   "newer, with Tools > WebSocket Server Settings > 'Enable WebSocket server' ticked\n")
    with running_obs(tmp_path / "home", server_on=False) as obs:
        assert obs_add(obs) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"livetoon: error: OBS is running but nothing answers at ws://127.0.0.1:{obs.port}: in OBS, "
                          "Tools > WebSocket Server Settings, tick 'Enable WebSocket server'"), err
    assert err.count("\n") == 1


def test_transparent_background_is_keyed_away_in_obs(obs, clip, tmp_path):
    """OBS's Chroma Key on the stream leaves transparent what LiveToon's matte calls background:
    compared with the same run's recording, which keeps the matte as its alpha (VP9)."""
    url = f"udp://127.0.0.1:{free_udp_port()}"
    assert obs_add(obs, "--stream", url, "--background", "transparent") == 0
    recording = tmp_path / "own.webm"
    live = start_live(clip, url, "--background", "transparent", "--record", str(recording))
    try:
        with obs.client() as client:
            wait_for_picture(obs, client, 40)
            time.sleep(1.5)
            shot = obs.screenshot(client, SOURCE_NAME)
    finally:
        out = finish(live)
    assert live.returncode == 0, out
    own = decode_bgra(recording)
    alpha = shot[..., 3]
    clear, opaque = float((alpha < 16).mean()), float((alpha > 240).mean())
    shown = alpha > 128
    # The screenshot shows one of the recorded frames, which one is not known (the stream and the
    # recording are paced apart): the best overlap over the run's mattes counts. A key that
    # missed the person, or kept the room, overlaps none of them by 0.85.
    overlap = max(float((shown & (frame[..., 3] > 128)).sum() / (shown | (frame[..., 3] > 128)).sum())
                  for frame in own)
    print(f"keyed away {clear:.0%}, opaque {opaque:.0%}; opaque vs LiveToon's matte: IoU {overlap:.2f}")
    assert clear > 0.3 and opaque > 0.05, f"alpha: {clear:.0%} transparent, {opaque:.0%} opaque"
    assert overlap > 0.85, f"OBS's opaque part is not LiveToon's person (IoU {overlap:.2f})"
    kept = shot[shown][:, :3].astype(int)
    green = (kept[:, 1] > 200) & (kept[:, 0] < 60) & (kept[:, 2] < 60)
    assert green.mean() < 0.02, "the key colour still shows"


def test_transparent_with_distroav_chooses_the_ndi_source():
    """The NDI branch, not run against a real DistroAV (Debian does not package it)."""
    transparent = Target("udp://127.0.0.1:9999", "Desk cam", (0, 255, 0), transparent=True)
    assert choose_kind(KINDS_WITH_DISTROAV, transparent) == NDI_KIND
    assert choose_kind(KINDS_WITH_DISTROAV[:-1], transparent) == MEDIA_KIND  # no DistroAV: stream + chroma key
    assert choose_kind(KINDS_WITH_DISTROAV, Target("udp://127.0.0.1:9999", "Desk cam")) == MEDIA_KIND
    settings = ndi_settings("Desk cam")
    assert settings["ndi_source_name"].endswith(" (Desk cam)") and settings["ndi_bw_mode"] == 0


def test_obs_websocket_4_is_told_to_update_obs():
    """OBS 27 and older run obs-websocket 4, which accepts the connection and then waits for
    the client to speak first: no Hello ever comes. A server that does just that stands in
    for it here (the real one needs an OBS 27 that Debian no longer ships)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_and_stay_silent() -> None:
        connection, _ = listener.accept()
        request = connection.recv(4096).decode()
        key = next(line.split(":", 1)[1].strip() for line in request.split("\r\n")
                   if line.lower().startswith("sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
        connection.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        time.sleep(3)
        connection.close()

    server = threading.Thread(target=accept_and_stay_silent, daemon=True)
    server.start()
    with pytest.raises(ObsError) as caught:
        ObsClient(port=port, timeout=1)
    assert str(caught.value) == (f"ws://127.0.0.1:{port} sent no obs-websocket 5 greeting: OBS older than 28 (its "
                                 "obs-websocket 4 speaks another protocol); update OBS to 28 or newer")
    server.join(5)
    listener.close()


@pytest.mark.parametrize("args, message", [
    (["obs", "add", "--port", "99999"], "argument --port: must be at least 1 and at most 65535, got 99999"),
    (["obs", "add", "--host", ""], "argument --host: OBS host: expected a name or address such as 127.0.0.1, got ''"),
    (["obs", "add", "--host", "ws://obs.local"], "argument --host: OBS host: expected a name or address"),
    (["live", "--obs", "127.0.0.1:port"], "argument --obs: OBS address: expected HOST:PORT such as 127.0.0.1:4455"),
])
def test_a_bad_obs_address_is_bad_usage_in_one_line(args, message, capsys):
    """Before: a port above 65535 or an empty host ended in a ValueError traceback."""
    with pytest.raises(SystemExit) as ended:
        main(args)
    err = capsys.readouterr().err
    assert ended.value.code == 2 and err.startswith(f"livetoon: error: {message}") and err.count("\n") == 1, err
