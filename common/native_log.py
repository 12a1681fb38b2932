"""Hide MediaPipe's native start-up chatter without hiding anything else.

MediaPipe's C++ graph threads and TFLite write straight to file descriptor 2, at
moments Python does not control (after ``process`` returns, when a face first
appears). While a detector lives, fd 2 is routed through a pipe; a pump thread
passes every line on to the real stderr except lines that start with the known
start-up prefixes. Partial lines (progress bars redrawn with ``\\r``) pass through
after a short quiet moment, so nothing the program itself prints is delayed for long
or lost.

The pump is a daemon thread, and daemon threads die when the interpreter exits: an
error line printed just before exit would die in the pipe with it (``livetoon live``
lost its one error line in 13 of 15 runs). So a filter still active at exit is
closed by an ``atexit`` hook, which restores fd 2 and waits for the pump to forward
everything. An exit that skips ``atexit`` (``os._exit``: the window's fast exit, Qt's
fatal platform error, Ctrl-C at start-up) goes through :func:`exit_now`, which does
the same first.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import sys
import threading
from typing import NoReturn

CHATTER_PREFIXES = (
    b"INFO: Created TensorFlow Lite",
    b"WARNING: All log messages before absl::InitializeLog()",
    b"W0000 00:00:",
    b"I0000 00:00:",
    b"ALSA lib ",  # a microphone that fails to open: the app says why in its own one line
)
LINE_END = re.compile(rb"[\r\n]")
FLUSH_AFTER_SECONDS = 0.05
_active: list[NativeStderrFilter] = []
"""Filters routing fd 2 now, oldest first."""


class NativeStderrFilter:
    """Context manager: drop chatter lines written to fd 2 while active."""

    def __init__(self, prefixes: tuple[bytes, ...] = CHATTER_PREFIXES) -> None:
        self.prefixes = prefixes
        self._saved: int | None = None
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._saved is not None

    def __enter__(self) -> NativeStderrFilter:
        if self.active:
            return self  # already filtering: a second pipe would only stack pumps
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            read_end, write_end = os.pipe()
        except OSError:
            return self  # no fd 2 to filter (embedded interpreters): leave it alone
        os.dup2(write_end, 2)
        os.close(write_end)
        self._saved = saved
        self._thread = threading.Thread(target=self._pump, args=(read_end,), name="stderr-filter", daemon=True)
        self._thread.start()
        atexit.register(self.__exit__)
        _active.append(self)
        return self

    def _emit(self, segment: bytes) -> None:
        if not segment.lstrip(b"\r\n").startswith(self.prefixes):
            os.write(self._saved, segment)

    def _pump(self, read_end: int) -> None:
        pending = b""
        while True:
            ready, _, _ = select.select([read_end], [], [], FLUSH_AFTER_SECONDS)
            if not ready:
                if pending and not any(p.startswith(pending.lstrip(b"\r\n")) for p in self.prefixes):
                    self._emit(pending)
                    pending = b""
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            pending += chunk
            while (match := LINE_END.search(pending, 1)) is not None:
                end = match.end()
                self._emit(pending[:end])
                pending = pending[end:]
        if pending:
            self._emit(pending)
        os.close(read_end)

    def __exit__(self, *exc: object) -> None:
        if self._saved is None:
            return
        atexit.unregister(self.__exit__)
        _active.remove(self)
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # closes the pipe's last write end: the pump sees EOF
        self._thread.join(timeout=2.0)
        os.close(self._saved)
        self._saved = None


def exit_now(code: int) -> NoReturn:
    """``os._exit(code)`` once every active filter has given fd 2 back and forwarded what it
    holds: ``os._exit`` skips ``atexit``, and the last lines (often the one error line)
    would die in the pipe with the pump thread."""
    for active in reversed(_active[:]):
        active.__exit__()
    os._exit(code)
