"""A private PulseAudio server for the microphone tests, and a clicker to be heard in it.

The server has one null sink, ``room``; its monitor is the default source, so what is
played into the room is what the "microphone" hears. It runs under its own runtime
folder and socket (never the user's session server), and ``PULSE_SERVER`` points this
process at it. The :class:`Clicker` plays a steady stream into the room (quiet noise)
through ``pacat`` with a 10 ms latency, writing only when less than 10 ms waits unread
in the pipe: a click written at perf_counter ``t`` sounds in the room at ``t`` plus what
was unread (:attr:`Clicker.queued`, the most seen) plus pacat's 10 ms.
"""

from __future__ import annotations

import array
import fcntl
import os
import shutil
import subprocess
import termios
import threading
import time
from pathlib import Path

import numpy as np

from tests.conftest import skip_unless_ci

RATE = 48000
BLOCK = 240
"""5 ms of sound per write."""
LATENCY_MS = 10


def needs_pulseaudio() -> None:
    missing = [tool for tool in ("pulseaudio", "pactl", "pacat") if not shutil.which(tool)]
    if not any(Path("/usr").glob("lib*/**/alsa-lib/libasound_module_pcm_pulse.so")):
        missing.append("ALSA's pulse plugin")
    if missing:
        skip_unless_ci(f"{', '.join(missing)} missing (apt install pulseaudio pulseaudio-utils libasound2-plugins): "
                       "no real sound source for the microphone")


class PulseRoom:
    """``pulseaudio`` started in ``folder``; ``server`` is its ``PULSE_SERVER``."""

    def __init__(self, folder: Path) -> None:
        runtime = folder / "runtime"
        runtime.mkdir(parents=True)
        self.server = f"unix:{runtime / 'native'}"
        env = {**os.environ, "PULSE_RUNTIME_PATH": str(runtime), "HOME": str(folder), "PULSE_SERVER": self.server}
        self.env = env
        self.log = open(folder / "pulseaudio.log", "w")
        self.process = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--use-pid-file=no", "--disable-shm=yes",
             "-L", f"module-native-protocol-unix auth-anonymous=1 socket={runtime / 'native'}",
             "-L", f"module-null-sink sink_name=room rate={RATE}"], env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while self.pactl("info").returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"pulseaudio did not start: {(folder / 'pulseaudio.log').read_text()[-500:]}")
            time.sleep(0.1)

    def pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Clicker:
    """Quiet noise played into the room without a break; :meth:`click` adds a loud 10 ms click."""

    def __init__(self, room: PulseRoom) -> None:
        self.process = subprocess.Popen(
            ["pacat", "--playback", "--raw", "--format=float32le", f"--rate={RATE}", "--channels=2",
             f"--latency-msec={LATENCY_MS}", "--device=room"], env=room.env, stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL)  # "Connection terminated" when a test takes the room away
        self._clicks: list[float] = []
        self._lock = threading.Lock()
        self.played: list[float] = []
        """When each click was written (perf_counter)."""
        self.queued = 0.0
        """The most sound queued ahead of the room when a click was written (s): its timing error."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, daemon=True)
        self._thread.start()

    def click_at(self, when: float) -> None:
        """A click written at perf_counter ``when`` (as near as a 5 ms block allows)."""
        with self._lock:
            self._clicks.append(when)

    def _backlog(self) -> float:
        """Seconds of sound written to pacat's stdin that it has not read yet."""
        unread = array.array("i", [0])
        fcntl.ioctl(self.process.stdin.fileno(), termios.FIONREAD, unread)
        return unread[0] / (8 * RATE)

    def _play(self) -> None:
        noise = np.random.default_rng(0)
        while not self._stop.is_set():
            now = time.perf_counter()
            ahead = self._backlog()
            if ahead >= 2 * BLOCK / RATE:  # pacat reads as the room plays: keep what waits short
                time.sleep(0.001)
                continue
            block = (noise.standard_normal((BLOCK, 2)) * 0.01).astype(np.float32)
            with self._lock:
                due = [when for when in self._clicks if when <= now]
                self._clicks = [when for when in self._clicks if when > now]
            if due:
                block[:] = noise.choice([-0.9, 0.9], (BLOCK, 2))
                self.played.append(now)
                self.queued = max(self.queued, ahead)
            try:
                self.process.stdin.write(block.tobytes())
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError):
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.process.stdin.close()
        self.process.terminate()
        self.process.wait(5)
