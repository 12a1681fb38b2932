"""The ``livetoon`` console script and ``python main.py``: Ctrl-C handling first, then the CLI.

Importing the CLI pulls in torch, OpenCV and MediaPipe (2-4 s). A Ctrl-C in that time
must end the program with one line and exit 130, not a traceback or a half-imported
module, so the handler is installed before any of that is imported.
"""

from __future__ import annotations

import sys

from app.interrupts import ignore_from_now, install_startup_handler


def main(argv: list[str] | None = None) -> int:
    install_startup_handler()
    from app.commands.cli import main as cli_main  # the heavy imports, under the handler
    from app.process_setup import set_up_process

    set_up_process()
    try:
        return cli_main(sys.argv[1:] if argv is None else argv)
    finally:
        ignore_from_now()


def window_or_command() -> int:
    """``python main.py`` with no arguments opens the window."""
    return main(sys.argv[1:] or ["gui"])
