"""The live session on a real clip with a slow model: ``python -m benchmarks.live_low_fps CLIP``.

Runs the real live chain (a file paced as a camera, newest frame wins, MediaPipe,
the style, the default stabilizer) for ``--seconds``; the model's own speed sets
the frame rate (toon at 704x576 on a 2-core CPU: about 1-3 fps). Prints the
processed rate and the fidelity of each stabilized output against its own
per-frame output, and with ``--sheet`` writes the frames that followed the largest
input change (per-frame beside stabilized, the face enlarged) as a JPEG.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import cv2
import numpy as np

from app.live.processor import LiveProcessor
from app.live.session import LiveSession
from app.live.settings import FileSpec, LiveSettings
from app.pipeline import Processed
from app.process_setup import tune_for_frames
from flow.metrics import psnr


def record_live(clip: Path, settings: LiveSettings, seconds: float, frames: int | None = None) -> list[Processed]:
    """Every frame the live session delivered in ``seconds``, or its first ``frames``
    if they come sooner (a loaded machine spends seconds loading MediaPipe and the style)."""
    delivered: list[Processed] = []

    def deliver(processed: Processed) -> None:
        delivered.append(processed)
        if frames is not None and len(delivered) >= frames:
            session.stop()

    session = LiveSession(FileSpec(clip), LiveProcessor(settings), on_frame=deliver)
    timer = threading.Timer(seconds, session.stop)
    timer.start()
    try:
        session.run()
    finally:
        timer.cancel()
    return delivered


def intervals(delivered: list[Processed]) -> np.ndarray:
    """Seconds between the capture times of consecutive processed frames."""
    return np.diff([item.frame.time for item in delivered])


def fidelities(delivered: list[Processed]) -> list[float]:
    """PSNR (dB) of each stabilized output against its own per-frame output, after the first."""
    return [psnr(item.output, item.styled) for item in delivered[1:]]


def sheet(delivered: list[Processed], rows: int = 3) -> np.ndarray:
    """Input | per-frame | stabilized for the ``rows`` frames after the largest input changes."""
    change = [cv2.absdiff(a.frame.image, b.frame.image).mean() for a, b in zip(delivered, delivered[1:])]
    picked = sorted(np.argsort(change)[::-1][:rows] + 1)
    return np.concatenate([np.concatenate([delivered[i].frame.image, delivered[i].styled, delivered[i].output], axis=1)
                           for i in picked], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--style", default="toon")
    parser.add_argument("--max-size", type=int, default=720)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sheet", type=Path, help="write the fastest-motion frames here (JPEG)")
    parser.add_argument("--width", type=int, default=1200, help="sheet width in pixels")
    args = parser.parse_args()
    tune_for_frames()  # as the livetoon program runs (app.process_setup)
    settings = LiveSettings(style=args.style, max_size=args.max_size, device=args.device)
    delivered = record_live(args.clip, settings, args.seconds)
    gaps = intervals(delivered)
    scores = fidelities(delivered)
    print(f"{len(delivered)} frames processed, median interval {np.median(gaps) * 1000:.0f} ms "
          f"({1 / np.median(gaps):.1f} fps); fidelity stabilized vs own per-frame: mean {np.mean(scores):.2f} dB, "
          f"lowest {np.min(scores):.2f} dB")
    if args.sheet:
        image = sheet(delivered)
        image = cv2.resize(image, (args.width, round(image.shape[0] * args.width / image.shape[1])),
                           interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(args.sheet), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        print("wrote", args.sheet)


if __name__ == "__main__":
    main()
