"""Every command the README shows, run from the installed wheel (no ``-e``, outside the checkout).

``gui`` is in ``test_real_window.py``, on a real X server. The slow part, building the
wheel and installing it with torch into a fresh venv, happens once per run (the
``installed_wheel`` fixture).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import zipfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from dctnet.engine import Stylizer
from faces.finder import FaceDetector
from dctnet.styles import StyleRegistry
from tests.clips import probe, write_clip
from tests.installed import Installed, packages_in_checkout, user_env, wheel_contents
from tests.xserver import missing_x_tools, xvfb

TS_PACKET = 188
TS_SYNC = 0x47


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("user")


@pytest.fixture(scope="module")
def clip(home) -> Path:
    return write_clip(home / "clip.mp4", frames=10, size=(192, 128), rate=Fraction(24), audio=("aac",))


def livetoon(installed: Installed, home: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """``livetoon ARGS`` as the installed console script, run from the user's home (not the checkout)."""
    result = subprocess.run([str(installed.livetoon), *args], capture_output=True, text=True, cwd=home,
                            env=user_env(home, **env), timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_the_wheel_holds_every_package_and_the_weights(installed_wheel):
    names = wheel_contents(installed_wheel.wheel)
    packaged = {str(Path(name).parent).replace("/", ".") for name in names if name.endswith("/__init__.py")}
    assert packages_in_checkout() <= packaged, f"left out of the wheel: {packages_in_checkout() - packaged}"
    assert {"app.gui", "weights"} <= packaged
    builtin = {p.name for p in (Path(__file__).resolve().parents[1] / "weights").glob("*.safetensors")}
    assert builtin and {f"weights/{name}" for name in builtin} <= set(names)
    with zipfile.ZipFile(installed_wheel.wheel) as archive:
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "livetoon = app.entry:main" in entry_points  # Ctrl-C handling first, then the CLI


def test_the_install_is_not_editable(installed_wheel, home):
    where = subprocess.run([str(installed_wheel.python), "-c", "import app.gui, weights; print(app.gui.__file__, weights.__file__)"],
                           capture_output=True, text=True, cwd=home, env=user_env(home), check=True).stdout.split()
    assert all(Path(p).is_relative_to(installed_wheel.root) for p in where), where


def test_image(installed_wheel, home, astronaut_bgr):
    photo, cartoon = home / "photo.png", home / "cartoon.png"
    cv2.imwrite(str(photo), astronaut_bgr)
    result = livetoon(installed_wheel, home, "image", str(photo), "-o", str(cartoon), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    made = cv2.imread(str(cartoon))
    stylizer = Stylizer.from_style(StyleRegistry().get("toon"), device="cpu", mode="full")
    with FaceDetector(static_image_mode=True) as detector:
        expected = stylizer.stylize(astronaut_bgr, detector.detect(astronaut_bgr))
    assert cv2.PSNR(made, expected) > 40, "the installed built-in style is the checkout's"
    assert cv2.PSNR(made, astronaut_bgr) < 30, "the photo was cartoonized"


def test_convert_and_eval_temporal(installed_wheel, home, clip):
    out = home / "converted.mp4"
    result = livetoon(installed_wheel, home, "convert", str(clip), "-o", str(out), "--device", "cpu", "--preset", "ultrafast")
    assert result.returncode == 0, result.stderr
    source, made = probe(clip), probe(out)
    assert len(made["pts"]) == len(source["pts"]) and made["size"] == source["size"]
    assert [codec for codec, _ in made["audio"]] == ["aac"], "the audio is kept"
    evaluated = livetoon(installed_wheel, home, "eval-temporal", str(clip), str(out))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "warping error (x1000): output" in evaluated.stdout


def free_udp_socket() -> socket.socket:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(1.0)
    return receiver


def collect_datagrams(receiver: socket.socket, into: list[bytes], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            into.append(receiver.recv(65536))
        except TimeoutError:
            continue


def test_live_streams_mpeg_ts(installed_wheel, home, clip):
    receiver = free_udp_socket()
    datagrams: list[bytes] = []
    stop = threading.Event()
    thread = threading.Thread(target=collect_datagrams, args=(receiver, datagrams, stop), daemon=True)
    thread.start()
    try:
        port = receiver.getsockname()[1]
        result = livetoon(installed_wheel, home, "live", "--input", str(clip), "--stream", f"udp://127.0.0.1:{port}",
                          "--output-size", "320x240", "--duration", "3", "--device", "cpu", "--mode", "background")
    finally:
        stop.set()
        thread.join(5)
        receiver.close()
    assert result.returncode == 0, result.stderr
    assert "fps" in result.stdout and "latency" in result.stdout
    payload = b"".join(datagrams)
    assert len(payload) >= 100 * TS_PACKET, f"only {len(payload)} bytes of stream arrived"
    assert all(len(d) % TS_PACKET == 0 for d in datagrams), "datagrams carry whole MPEG-TS packets"
    assert all(payload[at] == TS_SYNC for at in range(0, len(payload), TS_PACKET)), "every packet starts with the sync byte"


def test_styles_list(installed_wheel, home):
    result = livetoon(installed_wheel, home, "styles", "list")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert {"toon", "toon-lite", "toon-filter"} <= set(rows)
    assert str(installed_wheel.root) in rows["toon"], "the built-in weights come from the installed package"


def test_doctor(installed_wheel, home):
    if missing_x_tools() and os.environ.get("CI") != "1":  # no X server here: the window line says why
        result = livetoon(installed_wheel, home, "doctor")
        expected_window = "[warn] window          the window cannot open"
    else:
        with xvfb() as server:
            result = livetoon(installed_wheel, home, "doctor", **server.env())
        expected_window = "[ok  ] window          Qt 6."
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line[7:].split()[0]: line for line in result.stdout.splitlines() if line.startswith("[")}
    assert all(lines[name].startswith("[ok  ]") for name in ("python", "torch", "mediapipe", "styles")), result.stdout
    assert lines["window"].startswith(expected_window), lines["window"]


def test_bench(installed_wheel, home):
    result = livetoon(installed_wheel, home, "bench", "--size", "360p", "--frames", "3", "--warmup", "1", "--json",
                      "--device", "cpu", "--mode", "background")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report, result.stdout
    text = json.dumps(report)
    assert "median_ms" in text and "stylize" in text
