"""Option values checked where they are parsed: a bad one is bad usage (exit 2), in one line.

A value out of range found later, once a command runs, would exit 1 like a bad input
file, after the model had loaded, and sometimes after a file was made. So every
ranged option gets one of these as its argparse ``type``, and :class:`OneLineParser`
turns argparse's usage block into the one ``livetoon: error:`` line the README
promises for every error.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from app.chain_builder import Compositing


class OneLineParser(argparse.ArgumentParser):
    """argparse with one error line on stderr and exit 2 (its usage block stays in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        print(f"livetoon: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {'whole ' * (kind is int)}number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _show(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def _ranged(kind: type, low: float, high: float, low_open: bool) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = _number(text, kind)
        if value < low or (low_open and value == low) or value > high:
            lower = f"above {_show(low)}" if low_open else f"at least {_show(low)}"
            raise argparse.ArgumentTypeError(f"must be {lower} and at most {_show(high)}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its "invalid ... value" fallback
    return parse


def int_in(low: int, high: int) -> Callable[[str], int]:
    """A whole number in [low, high]."""
    return _ranged(int, low, high, low_open=False)


def float_in(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] (``low_open``: above ``low``, not equal to it)."""
    return _ranged(float, low, high, low_open)


def one_of(names: Sequence[str], what: str) -> Callable[[str], str]:
    """One of ``names`` (said with ``what``, the option's own word, when it is not)."""
    def parse(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose one of {', '.join(names)}")
        return text

    return parse


def non_blank(what: str) -> Callable[[str], str]:
    """A name that is not empty or spaces: ``--ndi ''`` must not silently mean "no NDI"."""
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"an empty {what}; leave the value out for the default one")
        return text

    return parse


def named_path(text: str) -> Path:
    """An output file or folder name: ``-o ''`` would mean the current folder, not a typo's file."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name; give a file or folder name")
    return Path(text)


def compositing_of(args: argparse.Namespace) -> Compositing:
    """The typed background settings of a command's ``--background``, ``--everyone`` and
    ``--stylize-background``: what goes below the command, never the Namespace itself."""
    return Compositing(args.background, main_person_only=not args.everyone,
                       stylize_background=args.stylize_background)
