"""Ctrl-C at any moment: one line, exit code 130, and never a half-written file.

Python's own SIGINT handling raises ``KeyboardInterrupt`` at whatever bytecode runs,
which breaks three ways in a program that imports torch and writes video:

* during start-up (imports, ~2-4 s) it prints a traceback or leaves a half-imported
  module behind (numpy then fails with ``AttributeError``), and library code that
  catches broadly can swallow it so the whole command runs anyway;
* a second Ctrl-C while a file is being finished (encoder flush, rename) lands in
  the middle of that work and leaves an undecodable temporary file;
* an interrupt that lands in a cleanup block escapes it.

So there are two phases. Until the command starts, nothing is open that needs
cleaning up: Ctrl-C prints the one line and ends the process at once
(:func:`install_startup_handler`, the very first thing the entry point does). Once
the command runs (:func:`enabled`), the *first* Ctrl-C raises ``KeyboardInterrupt``
once; every later one is only counted, never raised, so cleanup code is never
interrupted. Code that finishes a file asks :func:`hurry` between its steps and
gives up (deleting its temporary file) when the user pressed Ctrl-C again; inside
:func:`finishing`, even the first Ctrl-C waits until the file is complete. Once the
command has returned, Ctrl-C is ignored (:func:`ignore_from_now`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

from common.native_log import exit_now

EXIT_INTERRUPTED = 130
INTERRUPTED_LINE = b"livetoon: error: interrupted\n"


class _State:
    received = 0
    """Ctrl-Cs since the command started."""
    raised = False
    """Whether one already became a ``KeyboardInterrupt`` (only ever one does)."""
    holding = 0
    """Depth of :func:`finishing` blocks: interrupts wait until the outermost ends."""


def _exit_at_once(signum: int, frame: object) -> None:
    """Start-up: nothing is open yet, so the cleanest end is the immediate one."""
    os.write(2, INTERRUPTED_LINE)
    exit_now(EXIT_INTERRUPTED)


def _interrupt(signum: int, frame: object) -> None:
    _State.received += 1
    if not _State.raised and not _State.holding:
        _State.raised = True
        raise KeyboardInterrupt


def install_startup_handler() -> None:
    """Before any heavy import: Ctrl-C ends the process with one line and exit 130."""
    signal.signal(signal.SIGINT, _exit_at_once)


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """While a command runs: the first Ctrl-C raises ``KeyboardInterrupt``, later ones are counted.

    The previous handler comes back afterwards (tests call the CLI in-process), except
    the start-up one: once a command has run, its own end says "interrupted" (or not),
    and a late Ctrl-C that reached the start-up handler would say it a second time.
    So from then on Ctrl-C is ignored, as :func:`ignore_from_now` does at exit.
    """
    _State.received, _State.raised, _State.holding = 0, False, 0
    previous = signal.signal(signal.SIGINT, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN if previous is _exit_at_once else previous)


def ignore_from_now() -> None:
    """The command has ended and said so: Python's teardown (about a second with torch
    loaded) resets SIGINT to the default, and a late Ctrl-C there would turn the exit
    code reported into a death by signal. Ignored, the exit code stays the one printed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def interrupted() -> bool:
    """Whether Ctrl-C was pressed since the command started."""
    return _State.received > 0


def hurry() -> bool:
    """Ctrl-C pressed again after the first: stop finishing and leave nothing behind."""
    return _State.received >= 2


@contextlib.contextmanager
def finishing() -> Iterator[None]:
    """Finish a file undisturbed: a Ctrl-C inside waits, and is raised when the block ends."""
    _State.holding += 1
    try:
        yield
    finally:
        _State.holding -= 1
    if _State.received and not _State.raised and not _State.holding:
        _State.raised = True
        raise KeyboardInterrupt
