"""Run ``livetoon`` as ``main.py`` does, and send it a real SIGINT from inside one named step.

    python -m tests.signal_at MODULE:QUALNAME@EVENT[#NTH]... -- ARGS...

EVENT is ``call`` (as the function starts) or ``return`` (just after it ended); NTH
(default 1) picks which time. Several steps send one signal each (a second Ctrl-C at a
second step).

The function is wrapped, wherever a module holds it, by one that sends the kernel's
SIGINT to this process (``os.kill``) before or after calling it unchanged; Python's
handler then runs at the next instruction boundary, so the interrupt lands at that
step however fast or slow the machine is: a Ctrl-C "just after the writer opens" or
"after the last frame" is a fact of the run, not a guess by timing. (A profile hook
would do without wrapping, but an interrupt raised inside the hook switches it off.)
"""

from __future__ import annotations

import functools
import os
import signal
import sys


def resolve(target: str) -> tuple[object, str, object]:
    """(owner, attribute name, function) for ``module:Qual.name``."""
    module_name, qualname = target.split(":")
    owner: object = sys.modules[module_name]
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name, getattr(owner, name)


def wrap(target: str, event: str, nth: int) -> None:
    owner, name, original = resolve(target)
    seen = 0

    @functools.wraps(original)
    def step(*args, **kwargs):
        nonlocal seen
        seen += 1
        if event == "call" and seen == nth:
            os.kill(os.getpid(), signal.SIGINT)
        result = original(*args, **kwargs)
        if event == "return" and seen == nth:
            os.kill(os.getpid(), signal.SIGINT)
        return result

    if isinstance(owner, type):  # a method: the class holds it for every caller
        setattr(owner, name, step)
        return
    for module in list(sys.modules.values()):  # a function: every module that imported it by name
        for attribute, value in list(vars(module).items()):
            if value is original:
                setattr(module, attribute, step)


def main(argv: list[str]) -> int:
    split = argv.index("--")
    from app.entry import main as entry_main  # the heavy imports first, so every step can be found
    import app.commands.cli  # noqa: F401
    import common.fileio  # noqa: F401

    for spec in argv[:split]:
        target, _, rest = spec.partition("@")
        event, _, nth = rest.partition("#")
        assert event in ("call", "return"), spec
        wrap(target, event, int(nth or 1))
    return entry_main(argv[split + 1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
