"""The one error policy for LiveToon's worker threads.

A worker thread that dies of an exception nobody catches takes its message with it:
Python prints a traceback (which users must never see) and whoever waits for the
thread waits forever. So every worker thread here runs through :class:`Worker`:
it catches *everything*, keeps the first error's first line for the status line and
the exit code, and is closed with a timeout, so a hung driver or encoder can never
freeze the window or the command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def first_line(exc: BaseException) -> str:
    """Backends put multi-line dumps in their messages; a status line needs one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
