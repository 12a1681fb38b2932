"""Does the NDI output keep its set rate? ``python -m benchmarks.ndi_rate [--model-fps auto]``

``livetoon live --input CLIP --background transparent --ndi NAME`` on a still photo of a
person, received by a real NDI receiver (cyndilib, through the loopback configuration of
``tests/ndi_receiver.py``) for ``--seconds``: distinct frames against the set rate (the
bar: >= 90%, 270 of 300 at 30 fps over 10 s). The unit test (``tests/test_ndi.py``)
checks what arrives, not how fast: a rate on a shared test machine proves nothing. The
load average is printed beside the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.ndi_receiver import LocalReceiver, use_loopback_config
from tests.test_ndi import FPS, LIGHT_STYLE, PHOTO_SIZE, START_SECONDS, person_photo_clip, read_lines

BAR = 0.9
"""Share of the set rate that must arrive."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-fps", default="every", help="as livetoon live's (every, auto or N)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to receive")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = use_loopback_config(Path(folder) / "ndi-config")
        clip = person_photo_clip(Path(folder) / "still.mp4")
        name = f"livetoon-bench-{os.getpid()}"
        command = [sys.executable, "main.py", "live", "--input", str(clip), "--background", "transparent",
                   "--ndi", name, "--model-fps", args.model_fps, "--output-size", f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}",
                   "--output-fps", str(FPS), "--duration", str(args.seconds + START_SECONDS), *LIGHT_STYLE]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   cwd=Path(__file__).resolve().parents[1])
        lines: list[str] = []
        up = threading.Event()
        threading.Thread(target=read_lines, args=(process.stdout, lines, up), daemon=True).start()
        try:
            if not up.wait(START_SECONDS):
                raise SystemExit("the NDI output did not start:\n" + "\n".join(lines))
            with LocalReceiver(name) as receiver:
                if not receiver.wait_for_first_frame(30):
                    raise SystemExit("no NDI frame arrived:\n" + "\n".join(lines))
                time.sleep(2.0)  # past the start-up card and the first model frames
                load = os.getloadavg()[0]
                got = receiver.receive(args.seconds)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(60)
    share = len(got.stamps) / (FPS * args.seconds)
    print(json.dumps({"model_fps": args.model_fps, "set_fps": FPS, "seconds": args.seconds,
                      "distinct_frames": len(got.stamps), "share_of_set_rate": round(share, 3),
                      "meets_bar": share >= BAR, "load_before": round(load, 1)}, indent=1))


if __name__ == "__main__":
    main()
