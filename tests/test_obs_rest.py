"""The model rests while OBS hides LiveToon's source: ``livetoon live --stream --obs`` against a
real OBS (see ``tests/obs_studio.py``).

The model's calls are counted from the run's own once-a-second line: with ``--model-fps
every`` each output frame is one model run, and while the gate holds frames back none is
made. The CPU time is the process's own (``/proc/PID/stat``), read while shown and while
hidden.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.obs.add_source import SOURCE_NAME
from tests.conftest import REPO_ROOT
from tests.obs_studio import Obs, running_obs
from tests.test_live import STYLE_ARGS
from tests.udp import free_udp_port
from tests.test_obs import clip, obs, obs_add  # noqa: F401 - fixtures

FPS_LINE = re.compile(r"^fps\s+([\d.]+) \|")
HIDDEN = "obs: LiveToon's source is hidden: the model rests"
SHOWN = "obs: LiveToon's source shows: the model runs"


class LiveRun:
    """``livetoon live`` in its own process, its lines kept with the time they came."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen([sys.executable, str(REPO_ROOT / "main.py"), "live", *args, *STYLE_ARGS],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env={**os.environ, **(env or {})})
        self.lines: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, text: str, seconds: float = 60) -> float:
        """When a line holding ``text`` came (waiting for it)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = [at for at, line in list(self.lines) if text in line]
            if found:
                return found[0]
            assert self.process.poll() is None, "\n".join(line for _, line in self.lines)
            time.sleep(0.05)
        raise AssertionError(f"no line {text!r} within {seconds:g} s:\n" + "\n".join(line for _, line in self.lines))

    def rates(self, start: float, end: float) -> list[float]:
        """The output (= model) rates printed between two moments."""
        return [float(match.group(1)) for at, line in list(self.lines)
                if start < at <= end and (match := FPS_LINE.match(line))]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def finish(self) -> str:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(10)
        return "\n".join(line for _, line in self.lines)


def show(obs: Obs, scene: str) -> float:
    with obs.client() as client:
        if scene not in [s["sceneName"] for s in client.request("GetSceneList")["scenes"]]:
            client.request("CreateScene", {"sceneName": scene})
        client.request("SetCurrentProgramScene", {"sceneName": scene})
    return time.monotonic()


def test_model_rests_while_obs_hides_the_source_and_wakes_when_it_shows(obs, clip):  # noqa: F811
    url = f"udp://127.0.0.1:{free_udp_port()}"
    assert obs_add(obs, "--stream", url) == 0
    live = LiveRun("--input", str(clip), "--stream", url, "--output-size", "320x240", "--model-fps", "every",
                   "--obs", f"127.0.0.1:{obs.port}")
    try:
        live.wait_for("fps ")
        time.sleep(3)
        shown_from, shown_cpu = time.monotonic(), live.cpu_seconds()
        time.sleep(4)
        shown_until, shown_cpu = time.monotonic(), live.cpu_seconds() - shown_cpu

        hidden_at = show(obs, "Just chatting")  # a scene without LiveToon
        rested_at = live.wait_for(HIDDEN, 10)
        time.sleep(1.5)
        hidden_from, hidden_cpu = time.monotonic(), live.cpu_seconds()
        time.sleep(4)
        hidden_until, hidden_cpu = time.monotonic(), live.cpu_seconds() - hidden_cpu

        back_at = show(obs, "Scene")
        woke_at = live.wait_for(SHOWN, 10)
        time.sleep(3.5)
        out = live.finish()
    finally:
        if live.process.poll() is None:
            live.finish()
    assert live.process.returncode == 0, out
    shown, hidden = live.rates(shown_from, shown_until), live.rates(hidden_from, hidden_until)
    after = live.rates(woke_at + 1.2, woke_at + 3.5)
    print(f"model runs/s shown {shown}, hidden {hidden}, back {after}; CPU s/s shown "
          f"{shown_cpu / (shown_until - shown_from):.2f}, hidden {hidden_cpu / (hidden_until - hidden_from):.2f}; "
          f"rests {rested_at - hidden_at:.2f} s after the switch, wakes {woke_at - back_at:.2f} s after")
    assert len(shown) >= 3 and min(shown) > 0, out
    assert len(hidden) >= 3 and max(hidden) == 0, f"the model ran while OBS hid the source: {hidden}\n{out}"
    assert after and min(after) > 0, f"the model did not resume: {after}\n{out}"
    assert hidden_cpu < 0.5 * shown_cpu, (hidden_cpu, shown_cpu)


def test_a_recording_keeps_the_model_awake_while_obs_hides_the_source(tmp_path, clip):  # noqa: F811
    with running_obs(tmp_path / "home") as obs:
        url = f"udp://127.0.0.1:{free_udp_port()}"
        assert obs_add(obs, "--stream", url) == 0
        show(obs, "Just chatting")  # hidden from the start
        live = LiveRun("--input", str(clip), "--stream", url, "--record", str(tmp_path / "rec.mp4"),
                       "--output-size", "320x240", "--model-fps", "every", "--obs", f"127.0.0.1:{obs.port}")
        try:
            live.wait_for("note: OBS hides LiveToon's source, but an output other than the stream or NDI keeps "
                          "the model awake")
            started = live.wait_for("fps ")
            time.sleep(3.5)
            awake = live.rates(started, time.monotonic())
        finally:
            out = live.finish()
    assert live.process.returncode == 0, out
    assert HIDDEN not in out
    assert awake and min(awake) > 0, f"a recording must keep the model running: {awake}\n{out}"


def test_losing_obs_while_hidden_wakes_the_model(tmp_path, clip):  # noqa: F811
    url = f"udp://127.0.0.1:{free_udp_port()}"
    with running_obs(tmp_path / "home") as obs:
        assert obs_add(obs, "--stream", url) == 0
        show(obs, "Just chatting")
        live = LiveRun("--input", str(clip), "--stream", url, "--output-size", "320x240", "--model-fps", "every",
                       "--obs", f"127.0.0.1:{obs.port}")
        try:
            live.wait_for(HIDDEN)
        except BaseException:
            live.finish()
            raise
    try:
        woke = live.wait_for("obs: lost sight of LiveToon's source (OBS closed?): the model runs", 15)
        time.sleep(3.5)
        after = live.rates(woke + 1.2, time.monotonic())
    finally:
        out = live.finish()
    assert after and min(after) > 0, f"in doubt the model must run: {after}\n{out}"


def test_obs_without_the_source_is_one_line(obs, clip, capsys):  # noqa: F811
    from app.commands.cli import main

    assert main(["live", "--input", str(clip), "--obs", f"127.0.0.1:{obs.port}", "--duration", "1", *STYLE_ARGS]) == 1
    err = capsys.readouterr().err
    assert err == f"livetoon: error: OBS has no source {SOURCE_NAME!r} to watch: run `livetoon obs add` first\n"



def test_shown_nested_or_in_the_studio_preview_counts_as_shown(obs):  # noqa: F811
    """OBS's showing count, as the watcher reads it: a scene that holds LiveToon's scene, and
    the preview of studio mode, show it; a scene without it does not."""
    from app.live.rest import RestGate
    from app.obs.visibility import RestWhileHidden

    assert obs_add(obs) == 0
    gate = RestGate()
    watcher = RestWhileHidden(gate, lambda: ["stream"], "127.0.0.1", obs.port, None)

    def settles(resting: bool) -> bool:
        deadline = time.monotonic() + 5
        while gate.resting != resting and time.monotonic() < deadline:
            time.sleep(0.05)
        return gate.resting == resting

    try:
        with obs.client() as client:
            client.request("CreateScene", {"sceneName": "Other"})
            client.request("SetCurrentProgramScene", {"sceneName": "Other"})
            assert settles(True), "hidden: rests"
            client.request("CreateSceneItem", {"sceneName": "Other", "sourceName": "Scene"})
            assert settles(False), "nested in the scene on air: shown"
            item = client.request("GetSceneItemId", {"sceneName": "Other", "sourceName": "Scene"})["sceneItemId"]
            client.request("RemoveSceneItem", {"sceneName": "Other", "sceneItemId": item})
            assert settles(True)
            client.request("SetStudioModeEnabled", {"studioModeEnabled": True})
            client.request("SetCurrentPreviewScene", {"sceneName": "Scene"})
            assert settles(False), "in studio mode's preview: shown"
            client.request("SetCurrentPreviewScene", {"sceneName": "Other"})
            assert settles(True)
    finally:
        watcher.close()
    assert not gate.resting, "closing the watch wakes the model"
