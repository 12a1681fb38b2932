"""A one-line progress bar with fps and ETA on stderr (plain lines when not a terminal)."""

from __future__ import annotations

import sys
import time

REDRAW_SECONDS = 0.25
LOG_SECONDS = 10.0
BAR_WIDTH = 24


def clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, label: str, total: int | None, stream=sys.stderr) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.started = self.last = time.perf_counter()
        self.tty = stream.isatty()
        self.done = 0

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        fps = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * round(share * BAR_WIDTH)
            eta = (self.total - self.done) / fps if fps > 0 else 0.0
            return f"{self.label} [{bar:<{BAR_WIDTH}}] {self.done}/{self.total} {share:4.0%} {fps:5.1f} fps ETA {clock(eta)}"
        return f"{self.label} {self.done} frames {fps:5.1f} fps elapsed {clock(elapsed)}"

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if now - self.last >= (REDRAW_SECONDS if self.tty else LOG_SECONDS):
            self.last = now
            self.stream.write(("\r" + self.line()) if self.tty else self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()
