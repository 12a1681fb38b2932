"""The first run's choice of style, size and model fps, decided from measurements handed in.

The decision is tested apart from the timing: ``fit_defaults`` takes the measurements
(``measure``), so every branch is reached on any machine, whatever its load. What the
choice then shows on a real clip is ``python -m benchmarks.first_run_fit``'s to measure.
Which device is there is the input that picks the branch, so it is set for each case.
"""

from __future__ import annotations

import pytest

from app.live.fit_timing import Candidate, Rates
from app.live.fitting_defaults import FALLBACK, MIN_CARRIED_DB, MIN_MODEL_FPS, SHOWN_TARGET_FPS, fit_defaults
from dctnet.styles import StyleRegistry

SMOOTH, SHARP = 29.5, 33.0
"""A shown rate and a carried-frame PSNR that pass."""


def measured(rates: dict[tuple[str, int], Rates], calls: list[tuple[str, int, str]]):
    def measure(candidate: Candidate) -> Rates:
        calls.append((candidate.style, candidate.max_size, candidate.model_fps))
        return rates[candidate.style, candidate.max_size]
    return measure


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr("app.live.fitting_defaults.cuda_unavailable_reason", lambda: "no CUDA device")


def auto(*timed: tuple[str, int]) -> list[tuple[str, int, str]]:
    return [(style, size, "auto") for style, size in timed]


@pytest.mark.parametrize("rates, choice, timed", [
    ({("toon", 480): Rates(SMOOTH, 1.8, SHARP), ("toon", 720): Rates(SMOOTH, 1.2, MIN_CARRIED_DB - 0.1)},
     ("toon", 480), auto(("toon", 480), ("toon", 720))),
    ({("toon", 480): Rates(SMOOTH, 1.8, SHARP), ("toon", 720): Rates(SHOWN_TARGET_FPS, MIN_MODEL_FPS, MIN_CARRIED_DB)},
     ("toon", 720), auto(("toon", 480), ("toon", 720))),
    ({("toon", 480): Rates(SMOOTH, 1.8, SHARP), ("toon", 720): Rates(SMOOTH, MIN_MODEL_FPS - 0.1, SHARP)},
     ("toon", 480), auto(("toon", 480), ("toon", 720))),
    ({("toon", 480): Rates(SMOOTH, 0.8, SHARP), ("toon-lite", 360): Rates(SMOOTH, 2.9, SHARP),
      ("toon-lite", 480): Rates(SMOOTH - 10, 1.5, SHARP)},
     ("toon-lite", 360), auto(("toon", 480), ("toon-lite", 360), ("toon-lite", 480))),
    ({("toon", 480): Rates(SMOOTH, 0.1, None), ("toon-lite", 360): Rates(SMOOTH, 3.2, SHARP),
      ("toon-lite", 480): Rates(SMOOTH, 2.0, 30.0), ("toon-lite", 720): Rates(SHOWN_TARGET_FPS - 0.1, 1.2, SHARP)},
     ("toon-lite", 480), auto(("toon", 480), ("toon-lite", 360), ("toon-lite", 480), ("toon-lite", 720))),
    ({("toon", 480): Rates(12.0, 0.8, SHARP), ("toon-lite", 360): Rates(15.0, 3.0, SHARP),
      (FALLBACK.style, FALLBACK.max_size): Rates(5.5, 5.5)},
     ("toon-lite", 360), auto(("toon", 480), ("toon-lite", 360)) + [(FALLBACK.style, FALLBACK.max_size, "every")]),
    ({("toon", 480): Rates(16.0, 0.2, MIN_CARRIED_DB - 1), ("toon-lite", 360): Rates(8.0, 3.0, SHARP),
      (FALLBACK.style, FALLBACK.max_size): Rates(9.0, 9.0)},
     (FALLBACK.style, FALLBACK.max_size), auto(("toon", 480), ("toon-lite", 360)) + [(FALLBACK.style, FALLBACK.max_size, "every")]),
], ids=["toon-480", "toon-720", "toon-720-model-too-slow", "toon-model-too-slow", "lite-480", "busy-cpu-most-shown",
        "filter"])
def test_the_best_look_that_shows_smoothly_and_carries_well_and_only_what_it_takes_to_know(no_gpu, rates, choice, timed):
    """Best look first, model fps Auto; a bigger size is timed only when the smaller one
    passed; a candidate whose carried frames were never compared (a model too slow to
    make two frames in the time) does not pass, nor one whose model makes less than one frame
    a second (its carried frames are seconds old: smeared, whatever the short timing read). When none shows smoothly (a busy CPU), the
    filter on every frame is timed too and the most shown wins among it and the candidates
    that carry well (it won on a busy CPU with 5.5 fps, while Auto had shown 25-27: issue 27)."""
    calls: list[tuple[str, int, str]] = []
    fit = fit_defaults(StyleRegistry(), measure=measured(rates, calls))
    assert (fit.style, fit.max_size) == choice and calls == timed
    promised = rates[choice]
    assert fit.measured == promised and [(c.style, c.max_size, c.model_fps) for c, _ in fit.tried] == timed
    assert fit.reason.startswith(f"No GPU: chose {choice[0]} at {choice[1]}p")
    if choice == (FALLBACK.style, FALLBACK.max_size):
        assert fit.model_fps == "every" and f"p: {promised.shown_fps:.1f} fps shown, measured on this CPU" in fit.reason
    else:
        assert fit.model_fps == "auto"
        assert (f"p with model fps Auto: {promised.shown_fps:.0f} fps shown (the model makes {promised.model_fps:.1f} "
                "frames a second") in fit.reason


def test_a_gpu_takes_the_full_look_without_timing_anything(monkeypatch):
    monkeypatch.setattr("app.live.fitting_defaults.cuda_unavailable_reason", lambda: None)
    calls: list[tuple[str, int, str]] = []
    fit = fit_defaults(StyleRegistry(), measure=measured({}, calls))
    assert (fit.style, fit.max_size, fit.model_fps) == ("toon", 720, "every") and calls == []
    assert fit.reason.startswith("GPU found")
