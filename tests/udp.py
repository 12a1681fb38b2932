"""A free local UDP port for the stream tests (the sinks' own, ``livetoon live``'s and OBS's)."""

from __future__ import annotations

import socket


def free_udp_port() -> int:
    """A port no one listens on now: the kernel picks it for a probe that is closed at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
