"""``livetoon live``: the live pipeline without a window (servers, scripts, OBS rigs).

Ctrl-C is the normal way to end a run without ``--duration``: it stops the threads,
finishes the recording under its name, and exits 0 (a second Ctrl-C while the
recording finishes drops it, and the run ends as interrupted, 130). Every output is opened, and so checked, before the
session goes live; one that fails midway stops the run, says why on stderr, and the
run exits 1.
"""

from __future__ import annotations

import argparse
import os
import threading
from contextlib import nullcontext
from pathlib import Path

from common.errors import LiveToonError
from flow.stabilize import DEFAULT_STABILITY

from app import interrupts
from app.commands.options import float_in, named_path, non_blank
from app.compositing import Kind, parse_background
from app.live.audio import AudioTap
from app.live.microphone import AUTO
from app.live.contracts import Sink, SourceState
from app.live.processor import LiveProcessor
from app.live.session import LiveSession
from app.live.sink_set import SinkSet
from app.live.settings import (EVERY_FRAME, MAX_OUTPUT_FPS, MIN_OUTPUT_FPS, MODEL_FPS_HELP, CameraSpec, FileSpec,
                               LiveSettings, OutputSettings, SourceSpec)
from app.live.ndi import DEFAULT_NDI_NAME
from app.live.outputs import NDI, OUTPUTS, RECORD, STREAM, VIRTUAL_CAMERA, OutputRequest, open_output
from app.live.shared_encoder import EncoderPool
from app.commands.obs import PASSWORD_VARIABLE, obs_address
from app.live.sinks import DEFAULT_STREAM_URL, NO_ALPHA_NOTE
from app.obs.client import DEFAULT_HOST as OBS_HOST, DEFAULT_PORT as OBS_PORT
from app.obs.visibility import RestWhileHidden
from app.process_setup import set_live_threads


MAX_DURATION = 366 * 24 * 3600.0
"""The longest ``--duration``: a timer cannot wait for ``inf`` or ``1e300`` seconds, and a year is no typo."""


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"size must be even and at least 16x16, got {text!r}")
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--camera", metavar="NAME|INDEX", help="camera index or part of its name (default: 0)")
    source.add_argument("--input", type=Path, metavar="FILE", help="a video file standing in for a camera (looped)")
    parser.add_argument("--camera-size", type=parse_size, default=(1280, 720), metavar="WxH", help="camera capture size (default 1280x720)")
    parser.add_argument("--camera-fps", type=float_in(0.0, MAX_OUTPUT_FPS, low_open=True), default=30.0, help="camera frame rate to ask for (default 30)")
    parser.add_argument("--virtual-cam", action="store_true", help="send the cartoon to the virtual camera (OBS, Zoom...)")
    parser.add_argument("--stream", nargs="?", const=DEFAULT_STREAM_URL, type=non_blank("URL"), metavar="URL",
                        help=f"send an MPEG-TS stream for OBS's Media Source (default URL {DEFAULT_STREAM_URL})")
    parser.add_argument("--ndi", nargs="?", const=DEFAULT_NDI_NAME, type=non_blank("name"), metavar="NAME",
                        help=f"send an NDI source with alpha, for OBS's DistroAV plugin (default name {DEFAULT_NDI_NAME}; "
                             'needs pip install "livetoon[ndi]")')
    parser.add_argument("--obs", nargs="?", type=obs_address, const=(OBS_HOST, OBS_PORT), metavar="HOST:PORT",
                        help="watch OBS (obs-websocket; password from $LIVETOON_OBS_PASSWORD) and rest the model while "
                             "OBS shows its LiveToon source nowhere, when every output feeds OBS (--stream, --ndi) "
                             f"(default {OBS_HOST}:{OBS_PORT})")
    parser.add_argument("--output-size", type=parse_size, default=(1280, 720), metavar="WxH",
                        help="virtual camera, stream, NDI and recording size, letterboxed (default 1280x720)")
    parser.add_argument("--output-fps", type=float_in(MIN_OUTPUT_FPS, MAX_OUTPUT_FPS), default=30.0,
                        help=f"virtual camera, stream, NDI and recording frame rate, {MIN_OUTPUT_FPS}..{MAX_OUTPUT_FPS} "
                             f"(default 30)")
    parser.add_argument("--record", type=named_path, metavar="OUT", help="also record the cartoon to this video file")
    parser.add_argument("--audio", type=non_blank("microphone"), default=AUTO, metavar="DEVICE|none",
                        help="the sound a recording carries: a microphone (default, a PulseAudio source name, an ALSA "
                             "device) or none (default auto: a video file's own sound, else the default microphone; "
                             "none found: the picture only, said in one line)")
    parser.add_argument("--stability", type=float_in(0.0, 1.0), default=DEFAULT_STABILITY, help=f"temporal stability 0..1 (default {DEFAULT_STABILITY})")
    parser.add_argument("--strength", type=float_in(0.0, 1.0), default=1.0, help="cartoon strength 0..1, blended with the camera picture (default 1)")
    parser.add_argument("--mirror", action="store_true", help="mirror the picture")
    parser.add_argument("--model-fps", default=EVERY_FRAME, metavar="every|auto|N", help=f"{MODEL_FPS_HELP} (default every)")
    parser.add_argument("--duration", type=float_in(0.0, MAX_DURATION, low_open=True), metavar="S",
                        help="stop after S seconds, at most 366 days (default: run until Ctrl-C)")


RESTING = "LiveToon's source is hidden: the model rests, the outputs repeat the last frame"
AWAKE = "LiveToon's source shows: the model runs"
AWAKE_IN_DOUBT = "lost sight of LiveToon's source (OBS closed?): the model runs"


def source_spec(args: argparse.Namespace) -> SourceSpec:
    if args.input is not None:
        return FileSpec(args.input)
    return CameraSpec(args.camera or "0", *args.camera_size, args.camera_fps)


def live_settings(args: argparse.Namespace) -> LiveSettings:
    return LiveSettings(style=args.style, mode=args.mode, strength=args.strength, stability=args.stability,
                        max_size=args.max_size, device=args.device, mirror=args.mirror, model_fps=args.model_fps,
                        background=args.background, main_person_only=not args.everyone,
                        stylize_background=args.stylize_background)


def requested(args: argparse.Namespace, transparent: bool = False, audio: AudioTap | None = None,
              encoders: EncoderPool | None = None) -> dict[str, OutputRequest]:
    """The asked-for outputs by registry name, in the registry's order. With a ``transparent``
    background the recording keeps the alpha (and NDI always sends it); ``audio``: the sound it records;
    ``encoders``: where the stream and the recording share one encoder."""
    output = OutputSettings(*args.output_size, args.output_fps)
    read = [args.input, parse_background(args.background).path]  # every file the run reads is an input
    asked = {VIRTUAL_CAMERA: OutputRequest(output) if args.virtual_cam else None,
             STREAM: OutputRequest(output, args.stream, encoders=encoders) if args.stream is not None else None,
             NDI: OutputRequest(output, args.ndi) if args.ndi is not None else None,
             RECORD: OutputRequest(output, args.record, protect=[p for p in read if p is not None], alpha=transparent,
                                   audio=audio, microphone=args.audio, encoders=encoders) if args.record else None}
    return {name: asked[name] for name in OUTPUTS if asked[name] is not None}


def open_sinks(args: argparse.Namespace, sinks: SinkSet, transparent: bool = False) -> None:
    """Every asked-for output, or none: a failure closes those already opened."""
    try:
        for name, request in requested(args, transparent, sinks.audio, sinks.encoders).items():
            # a Ctrl-C while the recording's file is made waits until the sink holds it
            with interrupts.finishing() if name == RECORD else nullcontext():
                sinks.set(name, open_output(name, request))
    except BaseException:
        sinks.close_all()
        raise


def watch_obs(args: argparse.Namespace, sinks: SinkSet) -> RestWhileHidden | None:
    """With ``--obs``: the model rests while OBS hides LiveToon's source, and says so in a line."""
    if not args.obs:
        return None
    host, port = args.obs
    running = [name for name in OUTPUTS if sinks.get(name) is not None]

    def said(resting: bool, showing: bool | None) -> None:
        print("obs: " + (RESTING if resting else AWAKE if showing else AWAKE_IN_DOUBT), flush=True)

    watcher = RestWhileHidden(sinks.rest, lambda: running, host, port, os.environ.get(PASSWORD_VARIABLE), said)
    if watcher.showing is False and not sinks.rest.resting:
        print("note: OBS hides LiveToon's source, but an output other than the stream or NDI keeps the model awake",
              flush=True)
    return watcher


def report_every_second(session: LiveSession, outputs: list[Sink], done: threading.Event) -> None:
    """One line a second: what a streamer needs to set OBS's audio delay and spot trouble.

    An output that stopped on its own (disk full, device gone) ends the session; a microphone
    that did (unplugged) is said once, and the recording goes on.
    """
    said = session.sinks.audio.problem
    while not done.wait(1.0):
        fps, p50, p95 = session.meter.read()
        source = session.source
        state = source.state if source.state is not SourceState.LIVE else f"source {source.fps:.1f} fps"
        print(f"fps {fps:5.1f} | latency p50 {p50:4.0f} ms p95 {p95:4.0f} ms | {state}", flush=True)
        if any(sink.error for sink in outputs):
            session.stop()
        if session.sinks.audio.problem != said:
            said = session.sinks.audio.problem
            print(f"note: {said}", flush=True)


def print_status(state: SourceState, detail: str) -> None:
    print(f"source: {state}{': ' + detail if detail else ''}", flush=True)


def run(args: argparse.Namespace) -> int:
    transparent = parse_background(args.background).kind is Kind.TRANSPARENT  # a bad one fails before anything opens
    for name, request in requested(args, transparent).items():  # what can be checked before anything opens
        OUTPUTS[name].check(request)
    processor = LiveProcessor(live_settings(args), on_notice=lambda message: print(f"note: {message}", flush=True))
    set_live_threads(processor.settings.model_fps != EVERY_FRAME)  # process-wide: here, once
    sinks = SinkSet()
    # The source is checked first: a missing file or a wrong camera index is a usage error, not a "lost camera".
    session = LiveSession(source_spec(args), processor, sinks, on_status=print_status)
    try:
        processor.apply_settings()  # load the style now: a bad style name fails before any device opens
        print(f"device: {processor.device_text}", flush=True)
        open_sinks(args, sinks, transparent)
        watcher = watch_obs(args, sinks)
    except BaseException:
        sinks.close_all()
        processor.close()
        raise
    opened = sinks.all()
    for sink in opened:
        print(sink.status, flush=True)
    if sinks.audio.problem:  # no microphone: the recording is the picture only
        print(f"note: {sinks.audio.problem}", flush=True)
    if transparent and (args.virtual_cam or args.stream):
        print(f"note: {NO_ALPHA_NOTE}", flush=True)
    done = threading.Event()
    reporter = threading.Thread(target=report_every_second, args=(session, opened, done), daemon=True)
    reporter.start()
    timer = threading.Timer(args.duration, session.stop) if args.duration else None
    if timer:
        timer.start()
    try:
        stats = session.run()
    except KeyboardInterrupt:
        stats = None
    finally:
        done.set()
        if timer:
            timer.cancel()
        if watcher:
            watcher.close()
        sinks.close_all()
    if stats:
        print(f"processed {stats.processed} frames, dropped {stats.dropped} (newest frame wins)"
              + (f"; {stats.propagated} carried from the model's frames" if stats.propagated else ""))
    for sink in opened:
        print(sink.status)
    if interrupts.hurry():  # Ctrl-C pressed again while finishing: the user wants out, not a clean end
        raise KeyboardInterrupt
    failed = next((sink.error for sink in opened if sink.error), None)
    if failed:
        raise LiveToonError(failed)
    return 0
