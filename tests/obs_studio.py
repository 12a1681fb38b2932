"""A real OBS Studio for tests: Debian's ``obs-studio`` (29.x, obs-websocket 5 built in) on Xvfb.

Each OBS starts with a fresh profile in a temporary ``HOME``: ``global.ini`` skips the
first-run wizard and the websocket server's first-load dialog, and switches the server
on, on a free port, with or without a password. Software OpenGL (Mesa's llvmpipe) draws
where no GPU is. ``running_obs`` waits until the server answers and, on the way out,
ends OBS (and its X server) before the next test starts.

Tests skip where ``obs`` is not installed, except in CI (``CI=1``), where that fails:
``.ci/run`` installs it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.obs.client import ObsClient
from tests.xserver import xvfb

START_SECONDS = 60.0


def require_obs() -> None:
    if shutil.which("obs") is None:
        message = "the OBS tests need OBS Studio 28 or newer (apt package obs-studio)"
        if os.environ.get("CI") == "1":
            pytest.fail(f"{message}; CI must run them (.ci/run installs it)")
        pytest.skip(message)


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_profile(home: Path, port: int, password: str | None, server_on: bool) -> None:
    config = home / ".config" / "obs-studio"
    config.mkdir(parents=True)
    auth = f"AuthRequired=true\nServerPassword={password}\n" if password else "AuthRequired=false\n"
    (config / "global.ini").write_text(
        "[General]\nFirstRun=true\n\n"  # no auto-configuration wizard
        "[OBSWebSocket]\nFirstLoad=false\n"  # no "here is your generated password" dialog
        f"ServerEnabled={'true' if server_on else 'false'}\nServerPort={port}\n{auth}")


@dataclass
class Obs:
    port: int
    password: str | None
    process: subprocess.Popen
    log: Path

    def client(self, **kwargs) -> ObsClient:
        return ObsClient(port=self.port, password=self.password, **kwargs)

    def screenshot(self, client: ObsClient, source: str) -> np.ndarray:
        """What ``source`` shows now, as BGRA uint8 at its own size (obs-websocket's GetSourceScreenshot)."""
        answer = client.request("GetSourceScreenshot", {"sourceName": source, "imageFormat": "png"})
        data = base64.b64decode(answer["imageData"].split(",", 1)[1])
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        return image if image.shape[2] == 4 else cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)


def _wait_until_answering(obs: Obs) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if obs.process.poll() is not None:
            raise AssertionError(f"OBS ended at start (code {obs.process.returncode}): {obs.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", obs.port), timeout=1):
            return
        time.sleep(0.2)
    raise AssertionError(f"OBS's websocket server did not start within {START_SECONDS:g} s: {obs.log.read_text()[-2000:]}")


def _end(process: subprocess.Popen) -> None:
    """SIGTERM (OBS saves and quits), then SIGKILL: it has ended when this returns."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_obs(home: Path, password: str | None = None, server_on: bool = True) -> Iterator[Obs]:
    """OBS on its own Xvfb with a fresh profile under ``home``; ended on the way out."""
    require_obs()
    port = free_tcp_port()
    write_profile(home, port, password, server_on)
    log = home / "obs.log"
    with xvfb() as server, open(log, "wb") as log_file:
        # Not our Qt's settings: OpenCV points QT_QPA_PLATFORM_PLUGIN_PATH at its own plugins on import.
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
        env = {**inherited, **server.env(), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "LIBGL_ALWAYS_SOFTWARE": "1", "QT_QPA_PLATFORM": "xcb"}
        process = subprocess.Popen(["obs", "--multi", "--minimize-to-tray", "--disable-missing-files-check"],
                                   env=env, cwd=home, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        obs = Obs(port, password, process, log)
        try:
            if server_on:
                _wait_until_answering(obs)
            else:  # nothing will answer: wait until OBS has loaded its plugins instead
                _wait_for_log(obs, "Startup complete")
            yield obs
        finally:
            _end(process)


def _wait_for_log(obs: Obs, line: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while line not in obs.log.read_text(errors="replace"):
        assert obs.process.poll() is None, f"OBS ended at start: {obs.log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"OBS did not log {line!r} within {START_SECONDS:g} s"
        time.sleep(0.2)
