"""One progress line for long jobs (``convert``, the trainer): bar, count, rate, time left.

On a terminal the line rewrites itself a few times a second. On a log file it is a
plain line every ``log_seconds``, or nothing where the job logs lines of its own (the
trainer prints its validation scores).
"""

from __future__ import annotations

import sys
import time

REDRAW_SECONDS = 0.25
LOG_SECONDS = 10.0
BAR_WIDTH = 24
RATE_NAMES = {"frames": "fps", "steps": "steps/s"}


def clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """``update(done)`` as work advances, ``clear()`` before printing other lines, ``close()`` at the end."""

    def __init__(self, label: str, total: int | None, unit: str = "frames", stream=sys.stderr,
                 log_seconds: float | None = LOG_SECONDS) -> None:
        self.label, self.total, self.unit, self.stream = label, total, unit, stream
        self.tty = stream.isatty()
        self.interval = REDRAW_SECONDS if self.tty else log_seconds
        self.started = self.last = time.perf_counter()
        self.first: int | None = None
        self.done = 0
        self.extra: dict[str, object] = {}

    def line(self, note: str = "", seconds_left: float | None = None, fraction: float | None = None) -> str:
        elapsed = time.perf_counter() - self.started
        rate = (self.done - (self.first or 0)) / elapsed if elapsed > 0 else 0.0
        rate_text = f"{rate:5.1f} {RATE_NAMES.get(self.unit, self.unit + '/s')}"
        note = f" {note}" if note else ""
        if not self.total:
            return f"{self.label} {self.done} {self.unit} {rate_text} elapsed {clock(elapsed)}{note}"
        share = min(fraction if fraction is not None else self.done / self.total, 1.0)
        if seconds_left is None:
            seconds_left = (self.total - self.done) / rate if rate > 0 else 0.0
        return (f"{self.label} [{'#' * round(share * BAR_WIDTH):<{BAR_WIDTH}}] {self.done}/{self.total} {share:4.0%} "
                f"{rate_text} ETA {clock(seconds_left)}{note}")

    def update(self, done: int, note: str = "", seconds_left: float | None = None, fraction: float | None = None) -> None:
        """``fraction`` and ``seconds_left`` override what the count implies (a job with a time budget too)."""
        if self.first is None:
            self.first = done  # a resumed job: the rate counts only this run's work
        self.done = done
        self.extra = {"note": note, "seconds_left": seconds_left, "fraction": fraction}
        now = time.perf_counter()
        if self.interval is not None and now - self.last >= self.interval:
            self.last = now
            text = self.line(**self.extra)
            self.stream.write(("\r\033[K" + text) if self.tty else text + "\n")
            self.stream.flush()

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + self.line(**self.extra) + "\n")
            self.stream.flush()
