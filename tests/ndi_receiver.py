"""A real NDI receiver (cyndilib) on this machine, for the NDI output's tests.

Discovery: NDI finds sources by mDNS, which machines without multicast (CI's) lack.
An NDI configuration file naming 127.0.0.1 as a source address makes a Finder and a
Receiver see a sender on the same machine. The NDI runtime reads it from the folder
in ``NDI_CONFIG_DIR`` once, when it starts in a process, so :func:`use_loopback_config`
must run before the first NDI object (sender or receiver) is made.

Receiving: through the receiver's frame synchronizer (``FrameSync``), polled every few
milliseconds; each distinct frame is told apart by the timestamp the sender's NDI
runtime stamps on it at sending. (Plain ``Receiver.receive`` polling delivered only
about 10 of 30 frames a second in this sandbox while the socket carried all 30: the
runtime's capture queue, not the sender, was the bottleneck there.)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

POLL_SECONDS = 0.004
FINDER_RETRY_SECONDS = 4.0
LOOPBACK_CONFIG = {"ndi": {"networks": {"ips": "127.0.0.1"}}}


def use_loopback_config(folder: Path) -> dict[str, str]:
    """Write the loopback configuration into ``folder`` and point this process (and,
    through the returned environment, its children) at it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ndi-config.v1.json").write_text(json.dumps(LOOPBACK_CONFIG))
    os.environ["NDI_CONFIG_DIR"] = str(folder)
    return {**os.environ, "NDI_CONFIG_DIR": str(folder)}


@pytest.fixture(scope="module")
def ndi_env(tmp_path_factory):
    """This process and its children find NDI sources on 127.0.0.1 (restored afterwards).

    Every test module that makes an NDI object uses it: the runtime reads its
    configuration once per process, at the first sender or finder, so one made without
    it would leave every later finder in the test run blind."""
    before = os.environ.get("NDI_CONFIG_DIR")
    env = use_loopback_config(tmp_path_factory.mktemp("ndi-config"))
    yield env
    if before is None:
        os.environ.pop("NDI_CONFIG_DIR", None)
    else:
        os.environ["NDI_CONFIG_DIR"] = before


@dataclass
class Reception:
    """What a receiver saw: distinct frames counted by their send timestamps."""

    stamps: list[float] = field(default_factory=list)
    fourccs: set[str] = field(default_factory=set)
    sizes: set[tuple[int, int]] = field(default_factory=set)
    kept: list[np.ndarray] = field(default_factory=list)
    """Every ``keep_every``-th distinct frame, HxWx4 as received (BGRA)."""


class LocalReceiver:
    """Finds the NDI source whose name contains ``name`` and receives it as BGRA."""

    def __init__(self, name: str, find_seconds: float = 90.0) -> None:
        from cyndilib.finder import Finder
        from cyndilib.receiver import Receiver
        from cyndilib.video_frame import VideoFrameSync
        from cyndilib.wrapper.ndi_recv import RecvBandwidth, RecvColorFormat

        deadline = time.monotonic() + find_seconds
        names: list[str] = []
        while not names:
            # A finder that asked before the sender was listed can stay empty for good (seen
            # here about one time in three): each try gets a fresh finder.
            self.finder = Finder()
            self.finder.open()
            retry_at = min(deadline, time.monotonic() + FINDER_RETRY_SECONDS)
            while time.monotonic() < retry_at and not names:
                self.finder.wait_for_sources(0.5)
                names = [n for n in self.finder.get_source_names() if f"({name})" in n]
            if not names:
                self.finder.close()
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"no NDI source named {name!r} within {find_seconds:g} s")
        self.source_name = names[0]
        self.receiver = Receiver(color_format=RecvColorFormat.BGRX_BGRA, bandwidth=RecvBandwidth.highest)
        self.video = VideoFrameSync()
        self.receiver.frame_sync.set_video_frame(self.video)
        self.receiver.set_source(self.finder.get_source(self.source_name))

    def wait_for_first_frame(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.receiver.frame_sync.capture_video()
            if self.video.get_timestamp_posix():
                return True
            time.sleep(0.02)
        return False

    def receive(self, seconds: float, keep_every: int = 0) -> Reception:
        """Poll for ``seconds``; every distinct frame is counted (and some kept)."""
        from cyndilib.wrapper.ndi_structs import FourCC

        seen = Reception()
        last = None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.receiver.frame_sync.capture_video()
            stamp = self.video.get_timestamp_posix()
            if stamp and stamp != last:
                last = stamp
                seen.stamps.append(stamp)
                seen.fourccs.add(FourCC(self.video.get_fourcc()).name)
                width, height = self.video.get_resolution()
                seen.sizes.add((width, height))
                if keep_every and len(seen.stamps) % keep_every == 0:
                    seen.kept.append(np.array(self.video.get_array()).reshape(height, width, 4))
            time.sleep(POLL_SECONDS)
        return seen

    def close(self) -> None:
        self.receiver.disconnect()
        self.finder.close()

    def __enter__(self) -> LocalReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
