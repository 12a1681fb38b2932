"""``livetoon convert``: video files in, cartoon video files out, audio kept.

Each file goes through the file-mode pipeline into a temporary file that is renamed
at the end. Ctrl-C keeps what was done as a playable ``NAME.partial.EXT`` and says
so; any error removes the temporary file. A batch goes on after a bad file and
fails at the end, listing what failed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import enum
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from common.progress import Progress
from common.errors import LiveToonError
from faces.finder import FaceDetector
from faces.tracking import FaceTracker
from flow.two_sided import FILE_STABILITY

from app import interrupts
from app.chain_builder import ChainSettings, build_chain, open_compositor
from app.commands.options import compositing_of
from app.compositing import BackgroundError, Kind, parse_background
from app.files.keyframes import KeyframeProcessor
from app.files.output_safety import check_outputs
from app.paths import ensure_folder, expand_inputs
from app.files.pipeline import run_file_pipeline
from app.pipeline import FrameProcessor, Processed, StageTimes
from app.media.video_in import VIDEO_SUFFIXES, VideoReader
from app.files.video_out import ALPHA_SUFFIXES, WRITABLE_SUFFIXES, FinishAbandoned, VideoWriter, check_alpha_container

CONVERT_CHAIN = ChainSettings(FILE_STABILITY, whole_clip=True)
"""The chain ``convert`` runs at its defaults (a file has its future: the two-sided stabilizer),
which ``bench`` times."""
AUDIO_SHORT_SECONDS = 0.5
"""Audio ending this much before the video is worth a warning (codec padding is far less)."""


def plan_video_outputs(inputs: list[Path], output: Path, many: bool, alpha: bool = False,
                       also_read: Iterable[Path | None] = ()) -> list[Path]:
    """One input and a video-suffixed OUT: that file. Otherwise OUT is a folder of
    ``<stem>.<ext>`` (the input's container when we can write it, else ``.mp4``). With
    ``alpha`` only ``.mov`` and ``.webm`` keep the transparency: another OUT is refused,
    and a folder gets ``.mov`` for ``.mov`` inputs, else the far smaller ``.webm``.
    Several inputs and a new OUT named like a video (``-o out.mp4``) are refused: a folder
    of that name is surely not what was meant. ``also_read``: the other files the run reads."""
    output = Path(output)
    if many and output.suffix.lower() in VIDEO_SUFFIXES and not output.is_dir():
        raise LiveToonError(f"{output}: several inputs need an output folder, not a file name")
    writable, fallback = (ALPHA_SUFFIXES, ".webm") if alpha else (WRITABLE_SUFFIXES, ".mp4")
    if not many and output.suffix and not output.is_dir():
        if alpha:
            check_alpha_container(output)
        elif output.suffix.lower() not in WRITABLE_SUFFIXES:
            raise LiveToonError(f"{output}: cannot write {output.suffix} videos; use one of {', '.join(WRITABLE_SUFFIXES)}")
        outputs = [output]
    else:
        outputs = [output / (p.stem + (p.suffix.lower() if p.suffix.lower() in writable else fallback)) for p in inputs]
    check_outputs(list(zip(inputs, outputs)), also_read)
    return outputs


@dataclasses.dataclass(frozen=True)
class Encoding:
    """How each output file is written, from ``convert``'s options (``alpha``: the background is
    ``transparent``; ``side_by_side``: the camera picture left of the cartoon)."""

    codec: str
    crf: int
    preset: str
    side_by_side: bool = False
    alpha: bool = False


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.concatenate([left, right], axis=1)


def convert_one(src: Path, dst: Path, processor: FrameProcessor, encoding: Encoding) -> tuple[int, float]:
    """Convert one file; returns (frames, seconds).

    Ctrl-C at any step once the writer starts to open, not only between frames, leaves
    no temporary file: before the last frame, what was done is kept as a partial file
    (nothing when pressed again meanwhile); after it, the file is complete and is finished
    under its name."""
    started = time.perf_counter()
    alpha = encoding.alpha
    with VideoReader(src, on_note=warn) as reader:
        width = reader.width * (2 if encoding.side_by_side else 1)
        writer: VideoWriter | None = None
        progress: Progress | None = None
        stage = Stage.WRITING

        def sink(item: Processed) -> None:
            image = item.bgra() if alpha else item.output
            if encoding.side_by_side:
                camera = cv2.cvtColor(item.frame.image, cv2.COLOR_BGR2BGRA) if alpha else item.frame.image
                image = side_by_side(camera, image)
            writer.write(image, item.frame.pts)

        try:
            with interrupts.finishing():  # a Ctrl-C while the file is made waits until the writer exists
                writer = VideoWriter(dst, width, reader.height, reader.rate, reader.time_base, codec=encoding.codec,
                                     crf=encoding.crf, preset=encoding.preset,
                                     audio_source=src if reader.audio_streams else None, alpha=alpha)
            progress = Progress(src.name, reader.frame_count_estimate)
            processor.reset()
            processor.times = StageTimes()
            frames = run_file_pipeline(reader, processor, sink, on_frame=progress.update)
            stage = Stage.ENCODED
            progress.close()
            with interrupts.finishing():  # a Ctrl-C now waits until the file is complete
                writer.close()
                stage = Stage.KEPT
        except KeyboardInterrupt:
            if progress is not None:
                progress.close()
            if writer is not None:
                finish_interrupted(writer, stage)
            raise
        except FinishAbandoned as exc:  # Ctrl-C twice while the file was finished: it is gone
            if progress is not None:
                progress.close()
            print(f"interrupted: {exc}", file=sys.stderr)
            raise KeyboardInterrupt from None
        except BaseException:
            if progress is not None:
                progress.close()
            if writer is not None:
                writer.discard()
            raise
    warn_short_audio(src, writer)
    return frames, time.perf_counter() - started


class Stage(enum.Enum):
    """How far one file got, which decides what a Ctrl-C keeps."""

    WRITING = "writing"  # up to the last frame: a partial file, if any frame was written
    ENCODED = "encoded"  # every frame encoded: the file is finished under its name
    KEPT = "kept"  # finished and renamed: nothing left to do


def finish_interrupted(writer: VideoWriter, stage: Stage) -> None:
    """After Ctrl-C: the complete file under its name (it was, or every frame was encoded
    and it is finished now), else what was done as a partial file; a second Ctrl-C
    while finishing leaves nothing."""
    try:
        if stage is Stage.ENCODED:
            with interrupts.finishing():
                writer.close()
        elif stage is Stage.WRITING:
            keep_partial(writer)
            return
    except LiveToonError as exc:  # a second Ctrl-C while finishing, or the disk failed
        print(f"interrupted: {exc}", file=sys.stderr)
        return
    print(f"interrupted: {writer.path} was complete and is kept", file=sys.stderr)


def keep_partial(writer: VideoWriter) -> None:
    """After Ctrl-C: what was done as a playable ``NAME.partial.EXT`` (nothing if no frame),
    under another free name when that one is taken."""
    if not writer.frames:
        writer.discard()
        return
    try:
        partial = writer.abort_partial()
    except LiveToonError as exc:  # a second Ctrl-C while finishing, or the disk failed
        print(f"interrupted: {exc}", file=sys.stderr)
        return
    usual = writer.path.with_name(f"{writer.path.stem}.partial{writer.path.suffix}")
    taken = f" ({usual.name} already exists)" if partial != usual else ""
    print(f"interrupted: kept the first {writer.frames} frames as {partial}{taken}", file=sys.stderr)


def warn(message: str) -> None:
    """What the user should know of a file that converts anyway (stderr: stdout holds the results)."""
    print(f"livetoon: warning: {message}", file=sys.stderr)


def warn_short_audio(src: Path, writer: VideoWriter) -> None:
    """An input whose audio stops early converts faithfully; say so, or it looks like our bug."""
    shortfall = writer.audio_shortfall()
    if shortfall > AUDIO_SHORT_SECONDS:
        warn(f"{src}: its audio ends {shortfall:.1f} s before its video; the output's audio is as short")


def report_failure(exc: LiveToonError, src: Path, failures: list[str]) -> None:
    print(f"livetoon: error: {exc}", file=sys.stderr)
    failures.append(str(src))


def run(args: argparse.Namespace, open_stylizer) -> int:
    background = parse_background(args.background)  # a bad background fails before anything opens
    encoding = Encoding(args.codec, args.crf, args.preset, args.side_by_side, alpha=background.kind is Kind.TRANSPARENT)
    chain = dataclasses.replace(CONVERT_CHAIN, stability=args.stability, keyframes=args.keyframes)
    inputs = expand_inputs(args.inputs, VIDEO_SUFFIXES, "videos")
    many = len(inputs) > 1 or any(Path(p).is_dir() for p in args.inputs)
    outputs = plan_video_outputs(inputs, args.output, many, alpha=encoding.alpha,
                                 also_read=[background.path])
    for folder in {out.parent for out in outputs}:
        ensure_folder(folder)
    failures: list[str] = []
    jobs = []
    for src, dst in zip(inputs, outputs):  # check every input before the slow start-up
        try:
            VideoReader(src).close()
            jobs.append((src, dst))
        except LiveToonError as exc:
            report_failure(exc, src, failures)
    if not jobs:
        return 1
    stylizer = open_stylizer(args)
    print(f"device: {stylizer.choice.describe()}")
    with contextlib.ExitStack() as stack:
        tracker = None
        if stylizer.mode.needs_faces:
            tracker = FaceTracker(stack.enter_context(FaceDetector(static_image_mode=False)))
        processor = build_chain(stylizer, tracker, chain, open_compositor(compositing_of(args), stack))
        for src, dst in jobs:
            try:
                frames, seconds = convert_one(src, dst, processor, encoding)
            except BackgroundError:
                raise  # every file needs the background: the run ends, not just this file
            except LiveToonError as exc:
                report_failure(exc, src, failures)
                continue
            print(f"{src} -> {dst}: {frames} frames in {seconds:.1f} s ({frames / max(seconds, 1e-9):.1f} fps)")
            stages = ", ".join(f"{k} {median:.1f}" for k, (median, _) in processor.times.summary().items())
            print(f"  median ms per frame: {stages}")
            if isinstance(processor, KeyframeProcessor):
                print(f"  keyframes: {processor.keyframer.keyframes} of {frames} frames stylized, the rest carried along the motion")
    if failures and len(inputs) > 1:
        print(f"livetoon: error: {len(failures)} of {len(inputs)} videos failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0
