"""``python main.py`` opens the window; ``python main.py COMMAND ...`` is the CLI."""

import sys

from app.entry import window_or_command

if __name__ == "__main__":
    sys.exit(window_or_command())
