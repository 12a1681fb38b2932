"""The ``livetoon`` command line: subcommands, exit codes, one-line errors.

Exit codes: 0 success, 1 a failure the user can fix (bad input, missing device...),
2 bad usage (argparse), 130 interrupted. Errors are one line on stderr, never a
traceback, because users paste these into issue threads.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from dctnet.device import DEVICE_CHOICES
from dctnet.engine import DEFAULT_MAX_SIZE, Mode, Stylizer
from dctnet.frame_ops import PAD_MULTIPLE
from common.errors import LiveToonError
from faces.finder import FaceDetector
from dctnet.hub import OFFICIAL_STYLES, HubClient, download_style, official_style
from dctnet.styles import DEFAULT_STYLE, StyleRegistry
from flow.two_sided import FILE_STABILITY

from app.commands import bench, convert, doctor, evaluate, obs
from app.commands.options import OneLineParser, compositing_of, float_in, int_in, named_path, one_of
from app.commands import live as live_command
from app import interrupts
from app.files.keyframes import parse_keyframes
from app.chain_builder import open_compositor
from app.compositing import Kind, add_background_options, cut_out_still, parse_background
from app.files.video_out import MAX_CRF, MIN_CRF, PRESETS
from app.files.image_out import check_alpha_outputs, plan_image_outputs, write_image
from app.media.image_in import IMAGE_SUFFIXES, read_image
from app.paths import ensure_folder, expand_inputs

EXIT_FAILURE = 1
MAX_PROCESSING_SIZE = 8192
"""The largest ``--max-size`` (an 8K frame's short side is 4320): beyond it is a typo, not a wish."""
EXIT_INTERRUPTED = interrupts.EXIT_INTERRUPTED


def fail(message: str) -> None:
    print(f"livetoon: error: {message}", file=sys.stderr)


def open_stylizer(args: argparse.Namespace) -> Stylizer:
    return Stylizer.from_style(StyleRegistry().get(args.style), device=args.device, mode=args.mode,
                               max_size=args.max_size)


def add_style_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--style", default=DEFAULT_STYLE, help=f"style name (default: {DEFAULT_STYLE}; see `livetoon styles list`)")
    parser.add_argument("--mode", default=Mode.FULL.value, choices=[m.value for m in Mode],
                        help="full: cartoon background + cartoon head (official); face: only the main face; background: bg model only")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="where the model runs (default: auto = CUDA when usable)")
    parser.add_argument("--max-size", type=int_in(PAD_MULTIPLE, MAX_PROCESSING_SIZE), default=DEFAULT_MAX_SIZE,
                        help=f"process frames whose short side is larger at this short side (default: {DEFAULT_MAX_SIZE}, as the official pipeline)")
    add_background_options(parser)


def cmd_image(args: argparse.Namespace) -> int:
    background = parse_background(args.background)  # a bad one fails before anything is planned
    transparent = background.kind is Kind.TRANSPARENT
    inputs = expand_inputs(args.inputs, IMAGE_SUFFIXES, "images")
    many = len(inputs) > 1 or any(Path(p).is_dir() for p in args.inputs)
    outputs = plan_image_outputs(inputs, args.output, many, alpha=transparent, also_read=[background.path])
    if transparent:
        check_alpha_outputs(outputs)  # a single OUT the user named: refused, not renamed
        retyped = [src.name for src, dst in zip(inputs, outputs) if dst.suffix != src.suffix.lower()]
        if retyped:
            print(f"note: {retyped[0]}{f' and {len(retyped) - 1} more' if len(retyped) > 1 else ''} cannot carry "
                  f"transparency as it is: written as .png")
    with contextlib.ExitStack() as stack:
        compositor = open_compositor(compositing_of(args), stack)
        for folder in {out.parent for out in outputs}:
            ensure_folder(folder)
        stylizer = open_stylizer(args)
        print(f"device: {stylizer.choice.describe()}")
        failures = 0
        detector = None
        for src, dst in zip(inputs, outputs):
            started = time.perf_counter()
            try:
                image = read_image(src)
                if stylizer.mode.needs_faces and detector is None:
                    detector = stack.enter_context(FaceDetector(static_image_mode=True))
                faces = detector.detect(image) if detector else []
                if compositor is None:
                    write_image(dst, stylizer.stylize(image, faces))
                else:
                    write_image(dst, cut_out_still(compositor, stylizer, image, faces))
            except LiveToonError as exc:
                fail(str(exc))
                failures += 1
                continue
            took = time.perf_counter() - started
            print(f"{src} -> {dst} ({len(faces)} face{'s' * (len(faces) != 1)}, {took:.2f} s)")
    if failures and len(inputs) > 1:
        fail(f"{failures} of {len(inputs)} images failed")
    return EXIT_FAILURE if failures else 0


def cmd_styles_list(args: argparse.Namespace) -> int:
    for style in StyleRegistry().all():
        kind = "built-in" if style.builtin else "user"
        print(f"{style.name:16s} {kind:9s} {style.path or 'procedural renderer, no weights'}")
    return 0


def cmd_styles_import(args: argparse.Namespace) -> int:
    style = StyleRegistry().import_folder(args.path, name=args.name, replace=args.replace)
    print(f"imported style {style.name!r} -> {style.path}")
    return 0


def cmd_styles_remove(args: argparse.Namespace) -> int:
    StyleRegistry().remove(args.name)
    print(f"removed style {args.name!r}")
    return 0


def cmd_styles_available(args: argparse.Namespace) -> int:
    installed = {style.name for style in StyleRegistry().all()}
    for name, official in OFFICIAL_STYLES.items():
        state = "installed" if name in installed else "-"
        print(f"{name:13s} {state:9s} {official.model_id()} (revision {official.revision})")
    print("install with `livetoon styles download NAME...` (Apache-2.0 models from ModelScope)")
    return 0


def cmd_styles_download(args: argparse.Namespace) -> int:
    tty = sys.stderr.isatty()  # a redrawn line only where someone watches; logs get the result lines
    progress_line_open = False

    def show(name: str, done: int, total: int) -> None:
        nonlocal progress_line_open
        share = done / total if total else 1.0
        print(f"\r{name}: {done / 1e6:6.1f} / {total / 1e6:.1f} MB {share:4.0%}", end="", file=sys.stderr, flush=True)
        progress_line_open = True

    def end_progress_line() -> None:
        nonlocal progress_line_open
        if progress_line_open:
            print(file=sys.stderr)
            progress_line_open = False

    def notify(message: str) -> None:  # waits and checks the user should know of; stdout, as errors own stderr
        end_progress_line()
        print(message, flush=True)

    registry, client = StyleRegistry(), HubClient(args.endpoint, deadline=args.timeout, notify=notify)
    names = list(dict.fromkeys(args.names))
    for name in names:  # an unknown or taken name fails before anything is downloaded
        official_style(name)
        registry.check_new_name(name, args.replace)
    print(f"downloading from {client.endpoint}")
    for name in names:
        progress = (lambda done, total, n=name: show(n, done, total)) if tty else None
        try:
            style = download_style(name, registry, client, replace=args.replace, progress=progress)
        finally:
            end_progress_line()  # also before an error message
        print(f"installed style {style.name!r} -> {style.path}")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from app import gui  # Qt loads only for the window

    from app.live.settings import CameraSpec, FileSpec

    if args.input is not None and not args.input.is_file():
        raise LiveToonError(f"{args.input}: no such file")
    if args.input is not None:
        return gui.run(FileSpec(args.input.resolve()))
    return gui.run(CameraSpec(str(args.camera)) if args.camera is not None else None)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="livetoon", description="Cartoonize people in photos, videos and webcams (DCT-Net).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the window (the default of `python main.py`)")
    gui_source = gui.add_mutually_exclusive_group()
    gui_source.add_argument("--input", type=Path, metavar="FILE", help="start on this video file (looped) instead of a camera")
    gui_source.add_argument("--camera", type=int, metavar="INDEX", help="start on this camera")
    gui.set_defaults(func=cmd_gui)

    image = sub.add_parser("image", help="cartoonize still images")
    image.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="image files or folders")
    image.add_argument("-o", "--output", required=True, type=named_path, metavar="OUT", help="output file (one input) or folder")
    add_style_options(image)
    image.set_defaults(func=cmd_image)

    styles = sub.add_parser("styles", help="list, download, import or remove styles")
    styles_sub = styles.add_subparsers(dest="styles_command", required=True, metavar="ACTION")
    styles_sub.add_parser("list", help="installed styles").set_defaults(func=cmd_styles_list)
    imp = styles_sub.add_parser("import", help="import a folder holding a head and a bg model (.pb, .tflite or .safetensors)")
    imp.add_argument("path", type=Path)
    imp.add_argument("--name", help="style name (default: the folder's name)")
    imp.add_argument("--replace", action="store_true", help="replace a user style of the same name")
    imp.set_defaults(func=cmd_styles_import)
    rm = styles_sub.add_parser("remove", help="remove a user style")
    rm.add_argument("name")
    rm.set_defaults(func=cmd_styles_remove)
    styles_sub.add_parser("available", help="the official DCT-Net styles and whether each is installed").set_defaults(
        func=cmd_styles_available)
    dl = styles_sub.add_parser("download", help="download official DCT-Net styles from ModelScope and install them")
    dl.add_argument("names", nargs="+", metavar="NAME", help="official style names (see `livetoon styles available`)")
    dl.add_argument("--endpoint", metavar="URL",
                    help="hub or mirror to download from (default: $LIVETOON_HUB_ENDPOINT, else https://www.modelscope.cn)")
    dl.add_argument("--replace", action="store_true", help="replace user styles of the same names")
    dl.add_argument("--timeout", metavar="SECONDS",
                    help="give up when the server sends nothing for this long, all tries together "
                         "(default: $LIVETOON_HUB_TIMEOUT, else 45)")
    dl.set_defaults(func=cmd_styles_download)

    conv = sub.add_parser("convert", help="cartoonize video files (audio kept)")
    conv.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="video files or folders")
    conv.add_argument("-o", "--output", required=True, type=named_path, metavar="OUT", help="output file (one input) or folder")
    add_style_options(conv)
    conv.add_argument("--stability", type=float_in(0.0, 1.0), default=FILE_STABILITY,
                      help=f"temporal stability 0..1: each frame's blend with the frames before and after it "
                           f"(0 = per-frame output; default {FILE_STABILITY})")
    conv.add_argument("--side-by-side", action="store_true", help="write the input and the cartoon side by side")
    conv.add_argument("--keyframes", type=parse_keyframes, metavar="N|auto",
                      help="fast preview: the model on every Nth frame (or 'auto': when the motion needs it), the "
                           "frames between carried along the motion (default: the model on every frame)")
    conv.add_argument("--codec", default="h264", choices=["h264", "h265"],
                      help="video codec (default h264); with --background transparent the container picks one that "
                           "keeps alpha: .mov ProRes 4444, .webm VP9")
    conv.add_argument("--crf", type=int_in(MIN_CRF, MAX_CRF), default=18,
                      help=f"quality {MIN_CRF}..{MAX_CRF} (lower is better; default 18)")
    conv.add_argument("--preset", type=one_of(PRESETS, "preset"), default="medium",
                      help="x264/x265 speed preset (default medium)")
    conv.set_defaults(func=lambda a: convert.run(a, open_stylizer))

    live = sub.add_parser("live", help="cartoonize a camera (or a looped file) live: virtual camera, stream, record")
    live_command.add_arguments(live)
    add_style_options(live)
    live.set_defaults(func=live_command.run)

    ev = sub.add_parser("eval-temporal", help="warping error (flicker) of a converted video, and fidelity to a reference")
    ev.add_argument("input", type=Path, help="the original video")
    ev.add_argument("output", type=Path, help="the converted video")
    ev.add_argument("reference", type=Path, nargs="?", help="e.g. the same conversion with --stability 0")
    ev.set_defaults(func=evaluate.run)

    doc = sub.add_parser("doctor", help="check Python, torch/CUDA, MediaPipe, styles and the virtual camera")
    doc.set_defaults(func=doctor.run)
    add_style_options(bench.register(sub))
    obs.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.func is cmd_gui:  # Qt's event loop owns the window's lifetime
            return args.func(args)
        with interrupts.enabled():
            return args.func(args)
    except LiveToonError as exc:
        fail(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
