"""A real X server for window tests: Xvfb, screenshots of the whole screen, closing a window.

The window is tested the way a user meets it: Qt's ``xcb`` platform drawing on an X
server (Xvfb, a real X server that keeps its screen in memory), the picture read back
from the server with ``xwd`` (the X11 screen dump tool) and the window closed with the
``WM_DELETE_WINDOW`` message, which is what a window manager sends when the user
clicks the close button. Nothing of Qt's is asked how the window looks.

Tools: ``Xvfb`` (package ``xvfb``), ``xwd`` (``x11-apps``), ``xdotool`` (finding the
window); ``.ci/run`` installs them. Tests skip, saying which is missing, where they are
absent, except in CI (``CI=1``), where a missing tool is a failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

TOOLS = {"Xvfb": "xvfb", "xwd": "x11-apps", "xdotool": "xdotool"}
SCREEN = (1280, 800)
CLIENT_MESSAGE = 33  # X.h: the ClientMessage event type


def missing_x_tools() -> list[str]:
    return [f"{tool} (apt package {package})" for tool, package in TOOLS.items() if shutil.which(tool) is None]


def require_x_tools() -> None:
    """Skip (or fail in CI) unless Xvfb, xwd and xdotool are installed."""
    missing = missing_x_tools()
    if missing:
        message = f"the real-window test needs {', '.join(missing)}"
        if os.environ.get("CI") == "1":
            pytest.fail(f"{message}; CI must run it (.ci/run installs them)")
        pytest.skip(message)


@dataclass
class XServer:
    display: str
    process: subprocess.Popen

    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.display}


@contextlib.contextmanager
def xvfb(size: tuple[int, int] = SCREEN) -> Iterator[XServer]:
    """An Xvfb on a free display number (the server picks it and tells us through ``-displayfd``)."""
    require_x_tools()
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            number = pipe.readline().strip()
        if not number:
            message = f"Xvfb did not start: {process.communicate(timeout=10)[1].decode(errors='replace').strip()}"
            if os.environ.get("CI") == "1":
                pytest.fail(message)
            pytest.skip(message)
        yield XServer(f":{number}", process)
    finally:
        process.terminate()
        process.wait(timeout=10)


def screenshot(server: XServer) -> np.ndarray:
    """The whole X screen as BGR uint8, from ``xwd -root`` (the XWD format, version 7, ZPixmap)."""
    dump = subprocess.run(["xwd", "-root", "-silent"], env={**os.environ, **server.env()},
                          capture_output=True, check=True, timeout=30).stdout
    fields = struct.unpack(">25I", dump[:100])
    header_size, version, pixmap_format, _depth, width, height = fields[:6]
    byte_order, bits_per_pixel, bytes_per_line = fields[7], fields[11], fields[12]
    red_mask, green_mask, blue_mask, colours = fields[14], fields[15], fields[16], fields[19]
    assert version == 7 and pixmap_format == 2 and bits_per_pixel in (24, 32), fields
    start = header_size + colours * 12  # after the header (with the window name) and the colour map
    rows = np.frombuffer(dump, np.uint8, count=height * bytes_per_line, offset=start).reshape(height, bytes_per_line)
    size = bits_per_pixel // 8
    pixel_bytes = rows[:, :width * size].reshape(height, width, size).astype(np.uint32)
    if byte_order == 0:  # LSBFirst: the first byte is the lowest
        pixel_bytes = pixel_bytes[..., ::-1]
    pixels = np.zeros((height, width), np.uint32)
    for k in range(size):
        pixels = (pixels << 8) | pixel_bytes[..., k]
    channels = [(pixels & mask) >> (int(mask).bit_length() - 8) for mask in (blue_mask, green_mask, red_mask)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def find_window(server: XServer, pid: int, title: str, timeout: float = 60) -> int:
    """The id of the visible top-level window ``title`` of process ``pid``, once it is mapped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(pid), "--name", f"^{title}$"],
                               env={**os.environ, **server.env()}, capture_output=True, text=True, timeout=30)
        if found.stdout.split():
            return int(found.stdout.split()[0])
        time.sleep(0.2)
    raise AssertionError(f"no visible window {title!r} of process {pid} within {timeout} s")


def window_geometry(server: XServer, window: int) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a window on the screen."""
    shell = subprocess.run(["xdotool", "getwindowgeometry", "--shell", str(window)], env={**os.environ, **server.env()},
                           capture_output=True, text=True, check=True, timeout=30).stdout
    values = dict(line.split("=", 1) for line in shell.split())
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


class _ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class _Event(ctypes.Union):
    _fields_ = [("xclient", _ClientMessage), ("pad", ctypes.c_long * 24)]  # XEvent is 24 longs


def close_window(server: XServer, window: int) -> None:
    """Ask the window to close as a window manager does for the close button (ICCCM ``WM_DELETE_WINDOW``)."""
    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    x11.XInternAtom.restype, x11.XInternAtom.argtypes = ctypes.c_ulong, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(server.display.encode())
    assert display, f"cannot open X display {server.display}"
    try:
        event = _Event()
        message = event.xclient
        message.type, message.window, message.format = CLIENT_MESSAGE, window, 32
        message.message_type = x11.XInternAtom(display, b"WM_PROTOCOLS", False)
        message.data[0] = x11.XInternAtom(display, b"WM_DELETE_WINDOW", False)
        assert x11.XSendEvent(display, window, False, 0, ctypes.byref(event)), "XSendEvent failed"
        x11.XFlush(display)
    finally:
        x11.XCloseDisplay(display)
