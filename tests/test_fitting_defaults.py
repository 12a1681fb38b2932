"""The first run's choice of style and size, decided from measured rates handed in (issue 30).

The decision is tested apart from the timing: ``fit_defaults`` takes the measurements
(``measure``), so every branch is reached on any machine, whatever its load. Whether
the choice then runs well on a real clip, and how much faster than the full look, is
``python -m benchmarks.first_run_fit``'s to measure. Which device is there is the input
that picks the branch, so it is set for each case.
"""

from __future__ import annotations

import pytest

from app.live.fitting_defaults import FALLBACK, TARGET_FPS, fit_defaults
from dctnet.styles import StyleRegistry


def measured(rates: dict[tuple[str, int], float], calls: list[tuple[str, int]]):
    def measure(registry, style, size, frame, cancel) -> float:
        assert frame.shape == (720, 1280, 3), "timed on a webcam-sized frame"
        calls.append((style, size))
        return rates[style, size]
    return measure


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr("app.live.fitting_defaults.cuda_unavailable_reason", lambda: "no CUDA device")


@pytest.mark.parametrize("rates, choice, timed", [
    ({("toon", 480): 10.0, ("toon", 720): 5.0}, ("toon", 480), [("toon", 480), ("toon", 720)]),
    ({("toon", 480): 20.0, ("toon", 720): TARGET_FPS}, ("toon", 720), [("toon", 480), ("toon", 720)]),
    ({("toon", 480): 3.0, ("toon-lite", 360): 12.0, ("toon-lite", 480): 9.0}, ("toon-lite", 480),
     [("toon", 480), ("toon-lite", 360), ("toon-lite", 480)]),
    ({("toon", 480): 3.0, ("toon-lite", 360): 2.0, FALLBACK: 30.0}, FALLBACK,
     [("toon", 480), ("toon-lite", 360), FALLBACK]),
], ids=["toon-480", "toon-720", "lite-480", "filter"])
def test_the_best_look_that_is_fast_enough_and_only_what_it_takes_to_know(no_gpu, rates, choice, timed):
    """Best look first; within a style a bigger size is timed only when the smaller one was
    fast enough (toon at 720p takes seconds a frame on a busy CPU)."""
    calls: list[tuple[str, int]] = []
    fit = fit_defaults(StyleRegistry(), measure=measured(rates, calls))
    assert (fit.style, fit.max_size) == choice and calls == timed
    fps = rates[choice]
    assert fit.reason.startswith(f"No GPU: chose {choice[0]} at {choice[1]}p ({fps:.1f} fps measured on this CPU")
    assert ("would be a slideshow here" in fit.reason) == (choice != ("toon", 720))


def test_a_gpu_takes_the_full_look_without_timing_anything(monkeypatch):
    monkeypatch.setattr("app.live.fitting_defaults.cuda_unavailable_reason", lambda: None)
    calls: list[tuple[str, int]] = []
    fit = fit_defaults(StyleRegistry(), measure=measured({}, calls))
    assert (fit.style, fit.max_size) == ("toon", 720) and calls == [] and fit.reason.startswith("GPU found")
