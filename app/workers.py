"""The error policy of LiveToon's worker threads: a thread's error is never lost.

A worker thread that dies of an exception nobody catches takes its message with it:
Python prints a traceback (which users must never see) and whoever waits for the
thread waits forever. So the threads here run through one of two classes, by how
long they live:

- :class:`Worker`: a thread that outlives the call that started it (a sink's pacer,
  the file's sound, the microphone). It catches *everything*, keeps the first error's
  first line for the status line and the exit code, and is closed with a timeout, so
  a hung driver or encoder can never freeze the window or the command.
- :class:`Crew`: the threads that do one call's work together (the live pipeline's
  capture and model threads, the file pipeline's decode and encode threads). The
  first error stops them all and is raised in the caller once every one has ended, so
  the caller's own error handling (a command's exit code, the window's message) sees
  it as if it had happened in the call itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def first_line(exc: BaseException) -> str:
    """Backends put multi-line dumps in their messages; a status line needs one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Crew:
    """Threads that work one call together: the first error stops all and is raised in the caller."""

    def __init__(self, stop: threading.Event) -> None:
        """``stop`` is the event every member looks at; any member's error sets it."""
        self.stop = stop
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def start(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(target,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - the policy: raised in the caller's thread
            self.errors.append(exc)
            self.stop.set()

    def join(self) -> None:
        """Stop every member and wait for it (in a ``finally``: an error of the caller's own goes on)."""
        self.stop.set()
        for thread in self._threads:
            thread.join()

    def raise_first(self) -> None:
        """After :meth:`join`: the first member's error, raised here."""
        if self.errors:
            raise self.errors[0]


class Worker:
    """A daemon thread running ``target``; its first failure is kept in ``error``."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        self.error: str | None = None
        self._target = target
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def fail(self, message: str) -> None:
        """Record a failure; the first one is what the user sees."""
        self.error = self.error or message

    def _run(self) -> None:
        try:
            self._target()
        except BaseException as exc:  # noqa: BLE001 - the policy: nothing dies silently
            self.fail(first_line(exc))

    def join(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds; True when the thread has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()
