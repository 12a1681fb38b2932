"""The microphone in recordings: a sound input heard into the outputs' :class:`AudioTap`.

A recording of yourself should have your voice. While a recording runs (and only then:
nothing listens to the user otherwise), a :class:`Microphone` reads the chosen input
with PyAV on its own thread and publishes each chunk stamped with the moment it was
captured, on the ``time.perf_counter()`` clock the camera frames are stamped with. The
recording places it at the time of the picture captured with it
(:class:`~app.live.audio.SyncedSound`), delayed by the measured video latency like a
file's own sound. While the microphone is heard, the file's sound is not: one voice, not
two mixed.

Inputs, by system: Linux ALSA (``default`` is PulseAudio's or PipeWire's default
source through ALSA's ``pulse`` plugin; a PulseAudio source by its name; a raw ALSA
name such as ``hw:1,0``); Windows DirectShow (``audio=NAME``) and macOS AVFoundation
(``:N``). Only Linux is tested. Each chunk is stamped by the device's sample
count, anchored at the chunk that waited least (:class:`CaptureClock`), so the stamp
is when it was captured, not when it arrived, even when a sound server hands over
seconds at once.

A missing or unplugged microphone never ends the run or loses the picture: opening
says why in one line (the recording is then picture only), and one lost mid-way leaves
a line in :attr:`AudioTap.problem` and silence for the rest of the recording.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sysconfig
import threading
import time
from collections import deque
from pathlib import Path

import av
import numpy as np

from common.errors import LiveToonError

from app.files.sound_track import SOUND_CHANNELS, SOUND_RATE
from app.live.audio import AudioTap, HeardSound
from app.workers import Worker, first_line

AUTO, NONE, DEFAULT = "auto", "none", "default"
"""The sound choices besides a named device: ``auto`` is a video file's own sound, else the
default microphone; ``none`` records the picture only; ``default`` the system's default input."""
LIST_SECONDS = 3.0
CLOSE_SECONDS = 1.0
ANCHOR_SECONDS = 5.0


def describe(device: str, name: str = "") -> str:
    """How the window and the command line name ``device`` (``name``: what the sound server calls it)."""
    if device == DEFAULT:
        return "the default microphone" + (f" '{name}'" if name else "")
    return f"microphone '{name or device}'"


def heard_by(choice: str, tap: AudioTap, name: str = "") -> str:
    """What a recording started now would hear for ``choice`` ('' for the picture only);
    ``name``: what the sound server calls a named device."""
    if choice == NONE:
        return ""
    if choice == AUTO and tap.source_label:
        return tap.source_label
    return describe(DEFAULT if choice == AUTO else choice, name)


def _pactl(*args: str) -> str | None:
    """What ``pactl`` prints (in the C locale), or None without a sound server that answers."""
    if platform.system() != "Linux" or not shutil.which("pactl"):
        return None
    try:
        done = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=LIST_SECONDS,
                              env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def microphones() -> list[tuple[str, str]]:
    """(device, description) of every sound input PulseAudio (or PipeWire's pulse server) lists,
    for the window's choice; empty where it lists none or is absent (``default`` still works)."""
    try:
        sources = json.loads(_pactl("--format=json", "list", "sources") or "[]")
    except ValueError:
        return []
    return [(str(source["name"]), str(source.get("description") or source["name"]))
            for source in sources if isinstance(source, dict) and source.get("name")]


def _use_system_alsa_config() -> None:
    """Point the ALSA library inside PyAV's wheel at the system's configuration and plugins.

    The wheel's libasound looks for them where it was built (under /tmp), finds nothing,
    and so knows neither ``default`` nor the ``pulse`` plugin that reaches PulseAudio or
    PipeWire. It reads these variables at its first open, so this runs before each open;
    a variable the user set is kept, and one whose system files are absent is not set.
    The microphone is the only user of that library in the process.
    """
    folder = Path("/usr/share/alsa")
    plugin_dirs = [Path("/usr/lib") / str(sysconfig.get_config_var("MULTIARCH") or "") / "alsa-lib",
                   Path("/usr/lib64/alsa-lib"), Path("/usr/lib/alsa-lib")]
    if "ALSA_CONFIG_DIR" not in os.environ and folder.is_dir():
        os.environ["ALSA_CONFIG_DIR"] = str(folder)  # the sound cards' own settings, below it
    if "ALSA_CONFIG_PATH" not in os.environ and (folder / "alsa.conf").is_file():
        os.environ["ALSA_CONFIG_PATH"] = str(folder / "alsa.conf")
    plugins = next((candidate for candidate in plugin_dirs if candidate.is_dir()), None)
    if "ALSA_PLUGIN_DIR" not in os.environ and plugins is not None:
        os.environ["ALSA_PLUGIN_DIR"] = str(plugins)


def default_source() -> str:
    """PulseAudio's default source by its name ('' where none answers): opened by name, the
    recording can say which microphone "default" was."""
    return (_pactl("get-default-source") or "").strip()


def input_of(device: str) -> tuple[str, str]:
    """PyAV's (file, format) that opens ``device`` on this system."""
    system = platform.system()
    if system == "Windows":
        if device == DEFAULT:
            raise LiveToonError("Windows has no default microphone for DirectShow: name one (--audio NAME)")
        return f"audio={device}", "dshow"
    if system == "Darwin":
        return f":{device}", "avfoundation"
    if device == DEFAULT or ":" in device:
        return device, "alsa"
    return f'pulse:"{device}"', "alsa"  # a PulseAudio source, through ALSA's pulse plugin


class CaptureClock:
    """When each chunk was captured, on ``time.perf_counter()``.

    Every sample of a chunk was captured by the time the chunk arrived, and the device's
    own sample clock spaces them; so sample ``n`` was captured at ``anchor + n / rate``, the
    anchor being the least ``arrival - (samples up to the chunk's end) / rate`` over the last
    :data:`ANCHOR_SECONDS` (the chunk that waited least). This holds for a sound server that
    hands over seconds at once, and it follows a device clock that drifts or lost samples
    within that window. FFmpeg's own ALSA timestamps were not used: they start from the
    device's reported delay, which PulseAudio over-states at first (611 ms measured), and
    converge over a second and a half, moving the sound of a recording's start by that much.
    """

    def __init__(self) -> None:
        self._count = 0
        self._lows: deque[tuple[float, float]] = deque()
        """(arrival, candidate anchor), the candidates rising: the window's least is first."""

    def captured(self, samples: int, rate: int, arrived: float) -> float:
        """The capture time of a chunk of ``samples`` at ``rate`` that arrived at ``arrived`` (perf_counter)."""
        start = self._count / rate
        self._count += samples
        candidate = arrived - self._count / rate
        while self._lows and self._lows[-1][1] >= candidate:
            self._lows.pop()
        self._lows.append((arrived, candidate))
        while self._lows[0][0] < arrived - ANCHOR_SECONDS:
            self._lows.popleft()
        return self._lows[0][1] + start


class Microphone:
    """A sound input heard into ``tap`` from :meth:`start` to :meth:`close` (a thread).

    Opening it is the check: a missing device raises :class:`LiveToonError` with the reason.
    """

    def __init__(self, device: str, tap: AudioTap) -> None:
        self.device, self.tap = device, tap
        source = (default_source() or DEFAULT) if device == DEFAULT else device
        self.label = describe(device, dict(microphones()).get(source, ""))
        file, form = input_of(source)
        if form == "alsa":
            _use_system_alsa_config()
        try:
            self._input = av.open(file, format=form)
            self._stream = self._input.streams.audio[0]
        except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
            listed = ", ".join(name for name, _ in microphones())
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc)
            raise LiveToonError(f"cannot open {self.label} ({reason}" + (f"; the microphones here: {listed})" if listed
                                                                          else ")")) from None
        self._clock = CaptureClock()
        self._stop = threading.Event()
        self._worker = Worker(self._run, "microphone")

    def start(self) -> Microphone:
        self.tap.hear_microphone(self.label)
        self._worker.start()
        return self

    def _run(self) -> None:
        try:
            self._hear()
            if not self._stop.is_set():
                self.tap.problem = f"{self.label} stopped sending sound: the rest of the recording is silent"
        except Exception as exc:  # noqa: BLE001 - an unplugged device: said once, the picture goes on
            if not self._stop.is_set():
                self.tap.problem = f"{self.label} lost ({first_line(exc)}): the rest of the recording is silent"
        finally:
            self._input.close()

    def _hear(self) -> None:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SOUND_RATE)
        for packet in self._input.demux(self._stream):
            if self._stop.is_set():
                return
            arrived = time.perf_counter()
            for frame in packet.decode():
                heard = self._clock.captured(frame.samples, frame.sample_rate, arrived)
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().astype(np.float32, copy=False)[:SOUND_CHANNELS]
                    self.tap.publish(HeardSound(heard, samples), microphone=True)
                    heard += samples.shape[1] / SOUND_RATE

    def close(self) -> None:
        """Stop hearing; the tap hears the source's own sound again."""
        self._stop.set()
        self._worker.join(CLOSE_SECONDS)  # a hung driver is left to its daemon thread
        self.tap.stop_microphone(self.label)


def open_microphone(choice: str, tap: AudioTap) -> Microphone | None:
    """The microphone a recording should hear for ``choice``, started; None when it should hear
    none (``none``; ``auto`` while the source has its own sound) or none can be opened: then
    ``tap.problem`` says why, once, and the recording is picture only (or the file's sound)."""
    tap.problem = ""  # a new recording: the last one's missing microphone is no news
    if choice == NONE or (choice == AUTO and tap.label):
        return None
    try:
        return Microphone(DEFAULT if choice == AUTO else choice, tap).start()
    except LiveToonError as exc:
        tap.problem = f"{exc}: recording {'with ' + tap.label if tap.label else 'the picture only'}"
        return None
