"""``livetoon bench``: where the time of a frame goes, and how our engine compares to LiteRT.

Two questions users and reviewers ask, answered with one command each:

* *How fast is the whole pipeline here?* The real file pipeline (PyAV decode, face
  tracking, Stylizer, the two-sided flow stabilization, x264 encode: the chain ``convert``
  builds, by the same function, each on the threads it uses in
  ``convert``) runs on a clip, and every stage reports its median and p95 with the
  throughput and the end-to-end latency (decoded to encoded, so with the file
  pipeline's queues; ``frame`` is the same without them). Without ``--input`` a
  synthetic clip is encoded first (not timed); it has no real face, so one fixed face
  position is stylized to keep the head pass and the blend in the numbers.
* *Is the engine as fast as the official graphs?* ``--compare litert`` runs the
  reference ``.tflite`` graphs in LiteRT (XNNPACK, 2 threads) and our engine with the
  same weights on the same images at the graphs' native sizes, interleaved so both see
  the same machine load, and reports the ratio ours/LiteRT.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from dctnet.align import CROP_SIZE, REFERENCE_POINTS
from dctnet.engine import STAGES, Stylizer
from common.errors import LiveToonError
from faces.finder import Face, FaceDetector
from dctnet.styles import StyleRegistry
from faces.tracking import FaceSource, FaceTracker
from dctnet.network import official_state_dict
from dctnet.tflite import read_tflite_tensors

from app.commands import bench_live
from app.chain_builder import build_chain, open_compositor
from app.commands.convert import CONVERT_CHAIN
from app.commands.options import compositing_of, float_in, int_in
from app.compositing import Compositor, parse_background
from matte.stage import STAGES as MATTE_STAGES
from app.files.pipeline import run_file_pipeline
from app.pipeline import FrameProcessor, Processed, StageTimes
from app.frames import VideoFrame
from app.media.video_in import VideoReader
from app.files.video_out import VideoWriter

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
STAGE_ORDER = ("decode", "face", "flow", *MATTE_STAGES, "matte", *STAGES, "stylize", "stabilize", "composite",
               "encode", "frame")
"""``flow`` is the frame's one motion estimate, shared by the matte and the stabilizer; ``matte`` is
segment + steady + refine (with ``--background`` other than keep); ``stylize`` is bg pass + head pass +
blend; ``frame`` is one frame's face + flow + matte + stylize + stabilize + composite, the part of the
latency that does not depend on queues."""
REFERENCE_ROOT = Path(__file__).resolve().parents[3] / "shared" / "dctnet-reference"
REFERENCE_PARTS = (("head", CROP_SIZE), ("bg", 720))
"""The official graphs' native input sizes: the aligned head crop and the bg model's 720x720."""
LITERT_THREADS = 2
MAX_BENCH_FRAMES = 100_000
MAX_BENCH_SECONDS = 24 * 3600.0
SYNTHETIC_RATE = Fraction(30)


def size_list(text: str) -> str:
    """``--size`` checked as it is parsed: known names only (``native`` needs ``--input``, checked once that is known)."""
    try:
        parse_sizes(text, has_input=True)
    except LiveToonError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--size ", "size ")) from None
    return text


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``bench``; returns its parser so the caller adds the shared style options."""
    bench = subparsers.add_parser("bench", help="per-stage timings of the pipeline; --compare litert: engine vs the official graphs")
    bench.add_argument("--input", type=Path, metavar="CLIP", help="a video to time (default: a synthetic clip)")
    bench.add_argument("--size", type=size_list, default="720p", help="comma-separated frame sizes: 360p, 720p, 1080p (default 720p; "
                                                      "with --input, 'native' keeps the clip's size)")
    bench.add_argument("--frames", type=int_in(1, MAX_BENCH_FRAMES), default=30, help="frames per size, or repetitions per model with --compare (default 30)")
    bench.add_argument("--warmup", type=int_in(0, MAX_BENCH_FRAMES), default=2, help="untimed frames first (model and kernel set-up; default 2)")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    bench.add_argument("--compare", choices=["litert"], help="time our engine against LiteRT on the reference .tflite graphs")
    bench.add_argument("--reference", type=Path, metavar="DIR",
                       help="folder holding head.tflite and bg.tflite (default: ../shared/dctnet-reference/<style>)")
    bench.add_argument("--live", action="store_true",
                       help="time the live pipeline instead: the clip looped as a camera, every output frame counted")
    bench.add_argument("--model-fps", default="auto", metavar="every|auto|N", help="with --live: the model's rate (default auto)")
    bench.add_argument("--seconds", type=float_in(0.0, MAX_BENCH_SECONDS, low_open=True), default=20.0, help="with --live: how long to run (default 20)")
    bench.set_defaults(func=run)
    return bench


def run(args: argparse.Namespace) -> int:
    if args.live:
        report = live_report(args)
        print(json.dumps(report, indent=2) if args.json else bench_live.render(report))
        return 0
    report = compare_litert(args) if args.compare else bench_pipeline(args)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def live_report(args: argparse.Namespace) -> dict:
    """``--live``: the given clip, or a synthetic 720p one, looped as a camera."""
    if args.input is not None:
        VideoReader(args.input).close()  # a bad clip fails now, in one line
        return bench_live.run(args, args.input, environment)
    with tempfile.TemporaryDirectory(prefix="livetoon-bench-") as folder:
        clip = write_synthetic_clip(Path(folder) / "synthetic-720p.mp4", 60, *SIZES["720p"])
        return bench_live.run(args, clip, environment)


# -- shared ---------------------------------------------------------------------------
def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(stylizer: Stylizer) -> dict:
    """What a timing means nothing without: device, precision, library versions, the CPU."""
    return {"device": stylizer.choice.describe(), "dtype": str(stylizer.dtype).removeprefix("torch."),
            "torch": torch.__version__, "cuda": torch.version.cuda, "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),  # decides CPU numbers under load
            "cpu": f"{cpu_model()}, {os.cpu_count()} cores"}


def stats_ms(samples_ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(float(np.median(samples_ms)), 2), "p95_ms": round(float(np.percentile(samples_ms, 95)), 2)}


def parse_sizes(text: str, has_input: bool) -> list[str]:
    sizes = [s.strip() for s in text.split(",") if s.strip()]
    allowed = [*SIZES, "native"] if has_input else list(SIZES)
    bad = [s for s in sizes if s not in allowed]
    if bad or not sizes:
        raise LiveToonError(f"unknown --size {','.join(bad) or text!r}; choose from {', '.join(allowed)}")
    return sizes


# -- the pipeline -----------------------------------------------------------------------
def synthetic_images(count: int, width: int, height: int) -> Iterator[np.ndarray]:
    """Smooth colour fields plus fixed fine noise, panning: work for the encoder and the flow."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = rng.normal(0, 12, (height, width, 1)).astype(np.float32)
    for i in range(count):
        phase = 0.08 * i
        channels = [np.sin(xx / (37 + 11 * c) + phase + c) + np.cos(yy / (53 - 7 * c) - phase) for c in range(3)]
        yield np.clip(np.stack(channels, axis=-1) * 60 + 128 + noise, 0, 255).astype(np.uint8)


def write_synthetic_clip(path: Path, count: int, width: int, height: int) -> Path:
    writer = VideoWriter(path, width, height, SYNTHETIC_RATE, 1 / SYNTHETIC_RATE, preset="ultrafast")
    for pts, image in enumerate(synthetic_images(count, width, height)):
        writer.write(image, pts)
    return writer.close()


def fixed_face(width: int, height: int) -> Face:
    """The official crop's five points, centred, at a scale where the crop spans 2/3 of the height."""
    scale = height / (1.5 * CROP_SIZE)
    points = ((REFERENCE_POINTS - REFERENCE_POINTS.mean(axis=0)) * scale + (width / 2, height / 2)).astype(np.float32)
    return Face(points, (*points.min(axis=0), *points.max(axis=0)))


class SyntheticFaces:
    """A :class:`~faces.tracking.FaceSource`: runs the real tracker (its time is real), then
    stylizes a fixed face when it finds none."""

    def __init__(self, tracker: FaceTracker) -> None:
        self.tracker = tracker

    def update(self, frame_bgr: np.ndarray, t: float) -> list[Face]:
        return self.tracker.update(frame_bgr, t) or [fixed_face(frame_bgr.shape[1], frame_bgr.shape[0])]

    def reset(self) -> None:
        self.tracker.reset()


class TimedPush:
    """The chain as the file pipeline drives it, each ``push`` timed as ``frame``: one frame's
    face, flow, matte and stylize, the two-sided stabilizer's work and the frames it releases."""

    def __init__(self, chain: FrameProcessor) -> None:
        self.chain, self.times = chain, chain.times  # the pipeline's threads add decode and encode

    def push(self, frame: VideoFrame) -> list[Processed]:
        started = time.perf_counter()
        done = self.chain.push(frame)
        self.times.add("frame", time.perf_counter() - started)
        return done

    def finish(self) -> list[Processed]:
        return self.chain.finish()


def resized_frames(reader: VideoReader, size: tuple[int, int] | None, limit: int) -> Iterator[VideoFrame]:
    """The reader's frames, at most ``limit``, scaled to ``size`` (the scaling counts as decode)."""
    for frame in itertools.islice(reader, limit):
        if size and frame.image.shape[1::-1] != size:
            image = cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA)
            frame = VideoFrame(image, frame.pts, frame.time, frame.index)
        yield frame


def target_size(label: str, reader: VideoReader) -> tuple[int, int]:
    """(width, height) for a size label; a clip keeps its aspect ratio at the label's height."""
    if label == "native":
        return reader.width, reader.height
    height = SIZES[label][1]
    width = 2 * round(reader.width * height / reader.height / 2)
    return width, height


def timed_processor(stylizer: Stylizer, detector: FaceDetector | None, synthetic: bool, times: StageTimes,
                    compositor: Compositor | None = None) -> FrameProcessor:
    """The ``convert`` chain (:data:`CONVERT_CHAIN`), the matte's steps timed one by one."""
    tracker: FaceSource | None = FaceTracker(detector) if detector is not None else None
    if isinstance(tracker, FaceTracker) and synthetic:
        tracker = SyntheticFaces(tracker)
    if compositor is not None:
        compositor.matte.on_stage = times.add
    return build_chain(stylizer, tracker, CONVERT_CHAIN, compositor, times)


def time_clip(clip: Path, label: str, args: argparse.Namespace, processor: FrameProcessor, out_dir: Path) -> dict:
    """One timed run of the file pipeline over ``clip`` at one size, after untimed warm-up frames."""
    times = processor.times
    with VideoReader(clip) as reader:
        size = target_size(label, reader)
        warmup = list(resized_frames(reader, size, args.warmup))
    for frame in warmup:  # kernels and caches are set up outside the timed run
        processor.push(frame)
    processor.finish()
    processor.reset()
    times.samples.clear()
    decoded_at: dict[int, float] = {}
    with VideoReader(clip) as reader:
        writer = VideoWriter(out_dir / f"bench-{label}.mp4", *size, reader.rate, reader.time_base)

        def source() -> Iterator[VideoFrame]:
            for frame in resized_frames(reader, size, args.frames):
                decoded_at[frame.index] = time.perf_counter()
                yield frame

        def sink(item: Processed) -> None:
            writer.write(item.output, item.frame.pts)
            times.add("latency", time.perf_counter() - decoded_at.pop(item.frame.index))

        processor.stylizer.on_stage = times.add
        started = time.perf_counter()
        try:
            count = run_file_pipeline(source(), TimedPush(processor), sink)
            writer.close()  # the encoder's buffered frames are part of the work
        except BaseException:
            writer.discard()
            raise
        finally:
            processor.stylizer.on_stage = None
        wall = time.perf_counter() - started
    samples = {k: list(v) for k, v in times.samples.items()}
    return {"size": label, "width": size[0], "height": size[1], "frames": count, "fps": round(count / wall, 2),
            "latency": stats_ms(samples.pop("latency")),
            "stages": {k: stats_ms(samples[k]) for k in STAGE_ORDER if samples.get(k)}}


def bench_pipeline(args: argparse.Namespace) -> dict:
    sizes = parse_sizes(args.size, args.input is not None)
    parse_background(args.background)  # a bad background fails before the slow set-up
    if args.input is not None:
        VideoReader(args.input).close()  # a bad clip fails now, in one line, before the slow set-up
    stylizer = Stylizer.from_style(StyleRegistry().get(args.style), device=args.device, mode=args.mode,
                                   max_size=args.max_size)
    runs = []
    with contextlib.ExitStack() as stack:
        out_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="livetoon-bench-")))
        detector = stack.enter_context(FaceDetector(static_image_mode=False)) if stylizer.mode.needs_faces else None
        synthetic = args.input is None
        compositor = open_compositor(compositing_of(args), stack)
        for label in sizes:
            clip = args.input
            if synthetic:
                clip = write_synthetic_clip(out_dir / f"synthetic-{label}.mp4", args.frames + args.warmup, *SIZES[label])
            processor = timed_processor(stylizer, detector, synthetic, StageTimes(), compositor)
            runs.append(time_clip(clip, label, args, processor, out_dir))
    source = "synthetic clip (no real face: one fixed face position stylized)" if synthetic else str(args.input)
    return {"environment": environment(stylizer), "style": args.style, "mode": stylizer.mode.value, "input": source,
            "background": args.background, "load_average": round(os.getloadavg()[0], 2), "runs": runs}


# -- against LiteRT ---------------------------------------------------------------------
def reference_folder(args: argparse.Namespace) -> Path:
    folder = args.reference or REFERENCE_ROOT / args.style
    missing = [f"{part}.tflite" for part, _ in REFERENCE_PARTS if not (folder / f"{part}.tflite").is_file()]
    if missing:
        raise LiveToonError(f"{folder}: no reference graphs there (missing {', '.join(missing)}); "
                            "pass --reference DIR or a --style that has a folder in ../shared/dctnet-reference")
    return folder


def litert_runner(model_path: Path):
    """A function image -> uint8 image running the official graph, clip and cast included."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise LiveToonError("--compare litert needs the ai-edge-litert package: pip install ai-edge-litert") from exc
    interpreter = Interpreter(str(model_path), num_threads=LITERT_THREADS)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    result = interpreter.get_output_details()[0]["index"]

    def invoke(image: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(source, image.astype(np.float32))
        interpreter.invoke()
        y = interpreter.get_tensor(result)
        return ((np.clip(y, -0.999999, 0.999999) + 1.0) * 127.5).astype(np.uint8).reshape(image.shape)

    return invoke


def comparison_image(args: argparse.Namespace, side: int) -> np.ndarray:
    """The first frame of ``--input``, or a synthetic frame, squared to the graph's size."""
    if args.input is not None:
        with VideoReader(args.input) as reader:
            image = next(iter(reader)).image
    else:
        image = next(synthetic_images(1, 1280, 720))
    h, w = image.shape[:2]
    short = min(h, w)
    square = image[(h - short) // 2:(h + short) // 2, (w - short) // 2:(w + short) // 2]
    return cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA)


def compare_litert(args: argparse.Namespace) -> dict:
    folder = reference_folder(args)
    runners = {part: litert_runner(folder / f"{part}.tflite") for part, _ in REFERENCE_PARTS}
    weights = {part: official_state_dict(read_tflite_tensors((folder / f"{part}.tflite").read_bytes()), "tflite")
               for part, _ in REFERENCE_PARTS}
    stylizer = Stylizer(weights["head"], weights["bg"], device=args.device, mode="background")
    parts = {}
    for part, side in REFERENCE_PARTS:
        image = comparison_image(args, side)
        contenders = {"litert": runners[part], "ours": lambda im, p=part: stylizer.run_model(p, im[None])[0]}
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        outputs = {}
        for repeat in range(args.warmup + args.frames):  # alternate, so both see the same load
            for name, contender in contenders.items():
                started = time.perf_counter()
                outputs[name] = contender(image)
                if repeat >= args.warmup:
                    samples[name].append((time.perf_counter() - started) * 1000.0)
        medians = {name: float(np.median(s)) for name, s in samples.items()}
        diff = np.abs(outputs["ours"].astype(int) - outputs["litert"].astype(int)).max()
        parts[part] = {"size": f"{side}x{side}", "repeats": args.frames,
                       **{f"{name}_ms": stats_ms(s) for name, s in samples.items()},
                       "ratio_ours_over_litert": round(medians["ours"] / medians["litert"], 3),
                       "max_abs_diff_lsb": int(diff)}
    return {"environment": environment(stylizer), "reference": str(folder),
            "litert": {"threads": LITERT_THREADS, "delegate": "XNNPACK (default CPU)"}, "compare": parts}


# -- text -------------------------------------------------------------------------------
def render(report: dict) -> str:
    env = report["environment"]
    lines = [f"device: {env['device']} | {env['dtype']} | torch {env['torch']} | CUDA {env['cuda'] or 'none'} | "
             f"{env['torch_threads']} torch threads (OMP_WAIT_POLICY {env['omp_wait_policy']}) | {env['cpu']}"]
    for part, row in report.get("compare", {}).items():
        lines.append(f"{part:5s} {row['size']:>8s}: ours {row['ours_ms']['median_ms']:8.1f} ms   "
                     f"LiteRT {row['litert_ms']['median_ms']:8.1f} ms   ours/LiteRT {row['ratio_ours_over_litert']:.2f}x   "
                     f"(medians of {row['repeats']}, interleaved; max |diff| {row['max_abs_diff_lsb']} LSB)")
    for run in report.get("runs", []):
        lines.append(f"\n{run['size']} {run['width']}x{run['height']}, {run['frames']} frames of {report['input']}, "
                     f"background {report.get('background', 'keep')}, load average {report.get('load_average', '?')}: "
                     f"{run['fps']:.2f} fps; latency decoded->encoded (file mode, queues included) "
                     f"p50 {run['latency']['median_ms']:.0f} ms p95 {run['latency']['p95_ms']:.0f} ms")
        lines.append(f"  {'stage':12s} {'median ms':>10s} {'p95 ms':>10s}")
        for stage, row in run["stages"].items():
            lines.append(f"  {stage:12s} {row['median_ms']:10.1f} {row['p95_ms']:10.1f}")
    return "\n".join(lines)
