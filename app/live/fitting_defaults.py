"""First-run settings that fit the machine: the full look on a GPU, a usable rate without one.

`toon` at 720p is the best look but runs at about 1 fps on a laptop CPU when the model
has to make every frame, a slideshow a new streamer takes for a broken app. With model
fps *Auto* the model makes what frames it can and every camera frame in between is the
newest model frame carried along the motion (:mod:`app.live.pipeline`), so the output
keeps the camera's rate; what a slower model costs is how a carried frame looks. So on
first run (and after "Reset settings") without CUDA, each candidate runs as the window
would run it, on the user's own source (:mod:`app.live.fit_timing`), best look first,
and the best one is chosen that

- shows at least :data:`SHOWN_TARGET_FPS` on the window's own overlay, and
- whose carried frames, at the model rate it reaches, are at least :data:`MIN_CARRIED_DB`
  (PSNR) against the model's frame of the same picture, with the model making at least
  :data:`MIN_MODEL_FPS` frames a second.

When none does (a busy CPU), the cheapest there is, the filter on every frame, is timed
too, and whichever showed the most frames is chosen among it and the candidates whose
carried frames passed: a carried frame is smooth motion however slow the model, the
filter on every frame only as smooth as the filter is fast (5.5 fps at load 7.6 here).
The one-line reason says what was measured, in the overlay's own figure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from dataclasses import dataclass

from dctnet.device import cuda_unavailable_reason
from dctnet.engine import DEFAULT_MAX_SIZE
from dctnet.styles import DEFAULT_STYLE, FILTER_STYLE, StyleRegistry

from app.live.fit_timing import Candidate, FitCancelled, NoPicture, Rates, live_rates
from app.live.settings import AUTO, EVERY_FRAME, SourceSpec
from app.pipeline import Processed

__all__ = ["Fit", "FitCancelled", "NoPicture", "fit_defaults"]

LADDERS = ((DEFAULT_STYLE, (480, 720)), ("toon-lite", (360, 480, 720)))
"""Best look first; within a style, small sizes first: a size is timed only when the one
below it passed (a bigger size only makes the model slower)."""
FALLBACK = Candidate(FILTER_STYLE, 360, EVERY_FRAME)
"""The cheapest there is: a filter on every frame, nothing carried."""
SHOWN_TARGET_FPS = 20.0
"""Two thirds of a 30 fps camera: still smooth motion; below it a viewer sees stutter."""
MIN_CARRIED_DB = 27.0
"""PSNR of the oldest carried frame against the model's frame of the same picture. 27 dB
is the fidelity bar docs/benchmarks.md section 7 set for a keyframe every 6th frame:
below it the cartoon visibly lags the face (a mouth that stays shut, eyes that drift)."""

MIN_MODEL_FPS = 1.0
"""A carried frame is at most a second old. The carried PSNR is read on the few model frames
a short timing sees, and slower models passed it by luck: toon at 720p with the model at
0.34 fps passed at 27.6 dB on a person signing, and the window then showed a face and
hands smeared along three seconds of motion (toon-lite at 360p, 2.9 fps: 34.2 dB, clean)."""

@dataclass(frozen=True)
class Fit:
    style: str
    max_size: int
    reason: str
    """One line for the window: what was chosen, and why."""
    model_fps: str = EVERY_FRAME
    measured: Rates | None = None
    """What the choice showed while timed; its ``shown_fps`` is the banner's promise, in the
    window's overlay's own figure (None on a GPU: not timed)."""
    tried: tuple[tuple[Candidate, Rates], ...] = ()
    """Every candidate timed, in order (for ``benchmarks/first_run_fit.py``)."""


Measure = Callable[[Candidate], Rates]
"""How one candidate runs here (:func:`~app.live.fit_timing.live_rates` on the user's source;
a test hands in its own measurements)."""


def fit_defaults(registry: StyleRegistry, spec: SourceSpec | None = None, cancel: threading.Event | None = None,
                 measure: Measure | None = None, on_frame: Callable[[Processed], None] | None = None) -> Fit:
    """The settings a new user starts with on this machine, timed on ``spec`` (the user's own
    source; seconds on a CPU, instant on a GPU), each frame made handed to ``on_frame``.
    Raises :class:`FitCancelled` once ``cancel`` is set, :class:`NoPicture` when the source
    gives none."""
    if cuda_unavailable_reason() is None:
        return Fit(DEFAULT_STYLE, DEFAULT_MAX_SIZE, f"GPU found: the full look ({DEFAULT_STYLE} at {DEFAULT_MAX_SIZE}p).")
    if measure is None:
        if spec is None:
            raise ValueError("a CPU fit is timed on the user's own source")
        measure = partial(live_rates, registry, spec=spec, cancel=cancel, on_frame=on_frame)
    tried: list[tuple[Candidate, Rates]] = []
    for style, sizes in LADDERS:
        passed = list(climb(style, sizes, measure, tried))
        if passed:
            return chosen(*passed[-1], tried)
    tried.append((FALLBACK, measure(FALLBACK)))
    best = max((t for t in tried if t[0] == FALLBACK or carries_well(t[1])), key=lambda t: t[1].shown_fps)
    return chosen(*best, tried)


def carries_well(rates: Rates) -> bool:
    return rates.model_fps >= MIN_MODEL_FPS and rates.carried_db is not None and rates.carried_db >= MIN_CARRIED_DB


def climb(style: str, sizes: tuple[int, ...], measure: Measure,
          tried: list[tuple[Candidate, Rates]]) -> Iterator[tuple[Candidate, Rates]]:
    """(candidate, rates) with model fps Auto for each size, smallest first, while it passes;
    each one measured is added to ``tried``."""
    for size in sizes:
        candidate = Candidate(style, size, AUTO)
        rates = measure(candidate)
        tried.append((candidate, rates))
        if rates.shown_fps < SHOWN_TARGET_FPS or not carries_well(rates):
            return
        yield candidate, rates


def chosen(candidate: Candidate, rates: Rates, tried: Sequence[tuple[Candidate, Rates]] = ()) -> Fit:
    how = (f" with model fps Auto: {rates.shown_fps:.0f} fps shown (the model makes {rates.model_fps:.1f} frames a "
           "second; those between are carried along the motion)" if candidate.model_fps == AUTO
           else f": {rates.shown_fps:.1f} fps shown")
    return Fit(candidate.style, candidate.max_size,
               f"No GPU: chose {candidate.style} at {candidate.max_size}p{how}, measured on this CPU. "
               "Change it in the Look and Source tabs.", candidate.model_fps, rates, tuple(tried))
