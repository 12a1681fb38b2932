"""Is OBS running on this machine? It tells "OBS is closed" from "its WebSocket server is off".

Both look the same from the network (nothing listens on the port), but the fixes differ:
start OBS, or tick *Enable WebSocket server*. Only this machine can be looked at; for
another one the message names both fixes.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
from pathlib import Path

OBS_PROGRAMS = {"obs", "obs64.exe", "obs32.exe", "obs.exe"}


def is_local(host: str) -> bool:
    if host.lower() == "localhost" or host == socket.gethostname():
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _linux_programs() -> set[str]:
    names = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            names.add(comm.read_text().strip())
        except OSError:  # the process ended while we looked
            continue
    return names


def _listed_programs() -> set[str]:
    """Windows' ``tasklist`` or macOS's ``ps``: the programs' file names, lower case."""
    command = ["tasklist", "/fo", "csv", "/nh"] if sys.platform == "win32" else ["ps", "-axco", "comm"]
    try:
        listing = subprocess.run(command, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.split(",", 1)[0].strip().strip('"').lower() for line in listing.splitlines()}


def obs_process_running() -> bool:
    """True when a program named like OBS Studio runs on this machine."""
    programs = _linux_programs() if sys.platform.startswith("linux") else _listed_programs()
    return bool({name.lower() for name in programs} & OBS_PROGRAMS)
