"""``livetoon obs add``: set OBS up for LiveToon's output in one command (obs-websocket 5).

It only talks to OBS; LiveToon's own output runs in ``livetoon live`` (or the window),
so the line it prints ends with the command that feeds the source it made. The
password comes from ``--password`` or, kept out of the process list and shell history,
the ``LIVETOON_OBS_PASSWORD`` environment variable; it is never stored.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TypeVar

from common.errors import LiveToonError

from app.compositing import Kind, parse_background
from app.live.ndi import DEFAULT_NDI_NAME
from app.live.sinks import DEFAULT_STREAM_URL, stream_target
from app.obs.add_source import NDI_KIND, Added, Target, add_to_obs
from app.commands.options import int_in
from app.obs.client import DEFAULT_HOST, DEFAULT_PORT, ObsClient, check_host, parse_address

PASSWORD_VARIABLE = "LIVETOON_OBS_PASSWORD"
T = TypeVar("T")


def usage(check: Callable[[str], T]) -> Callable[[str], T]:
    """``check``'s LiveToonError as bad usage (exit 2), where argparse parses the option."""
    def parse(text: str) -> T:
        try:
            return check(text)
        except LiveToonError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = check.__name__
    return parse


obs_address = usage(parse_address)
"""``--obs HOST:PORT`` of ``livetoon live``."""


def register(subparsers: argparse._SubParsersAction) -> None:
    obs = subparsers.add_parser("obs", help="set OBS up for LiveToon (obs-websocket 5, OBS 28 or newer)")
    actions = obs.add_subparsers(dest="obs_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create or update the 'LiveToon' source in an OBS scene")
    add.add_argument("--host", type=usage(check_host), default=DEFAULT_HOST,
                     help=f"OBS's address (default {DEFAULT_HOST})")
    add.add_argument("--port", type=int_in(1, 65535), default=DEFAULT_PORT,
                     help=f"obs-websocket's port (default {DEFAULT_PORT})")
    add.add_argument("--password", help=f"obs-websocket's password (default: ${PASSWORD_VARIABLE}; none)")
    add.add_argument("--scene", metavar="NAME", help="the scene to add it to (default: the current one)")
    add.add_argument("--stream", default=DEFAULT_STREAM_URL, metavar="URL",
                     help=f"the URL `livetoon live --stream` sends to (default {DEFAULT_STREAM_URL})")
    add.add_argument("--ndi", default=DEFAULT_NDI_NAME, metavar="NAME",
                     help=f"LiveToon's NDI name, used with a transparent background when OBS has DistroAV "
                          f"(default {DEFAULT_NDI_NAME})")
    add.add_argument("--background", default="keep",
                     help="the background LiveToon sends: transparent or color[:#RRGGBB] add a Chroma Key filter "
                          "(or, transparent with DistroAV in OBS, an NDI source with alpha); default keep")
    add.set_defaults(func=run_add)


def target_of(args: argparse.Namespace) -> Target:
    """What LiveToon will send, from the same words ``livetoon live`` takes."""
    stream_target(args.stream)  # a bad URL fails here, in the stream's own words
    background = parse_background(args.background)
    keyed = background.kind in (Kind.TRANSPARENT, Kind.COLOR)
    return Target(args.stream, args.ndi, background.colour if keyed else None,
                  transparent=background.kind is Kind.TRANSPARENT)


def feeding_command(added: Added, args: argparse.Namespace) -> str:
    """The ``livetoon live`` options that feed the source just made."""
    if added.kind == NDI_KIND:
        output = "--ndi" + ("" if args.ndi == DEFAULT_NDI_NAME else f" {args.ndi!r}")
    else:
        output = "--stream" + ("" if args.stream == DEFAULT_STREAM_URL else f" {args.stream}")
    background = "" if args.background == "keep" else f" --background {args.background}"
    return f"livetoon live {output}{background}"


def run_add(args: argparse.Namespace) -> int:
    target = target_of(args)
    password = args.password if args.password is not None else os.environ.get(PASSWORD_VARIABLE)
    with ObsClient(args.host, args.port, password) as client:
        added = add_to_obs(client, target, args.scene)
    print(f"{added.describe()}; feed it with `{feeding_command(added, args)}`", flush=True)
    return 0
