"""A stylized still backdrop is cached per style: keyed on the Stylizer itself, never on its ``id``.

An ``id`` is an address: once a Stylizer is collected, the next object may get the same
one, and a cache keyed on it hands the old style's backdrop to the new style (issue 30,
item 17). The allocator's reuse cannot be forced from Python, so these tests make it
certain the only way there is: ``id`` in the module under test answers the same number
for every object, exactly what the allocator does when it reuses an address. Code keyed
on the object is not affected by that; code keyed on ``id`` hands back the wrong picture.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from app.chain_builder import Compositing
from app.compositing import BackgroundSource, parse_background
from app.frames import VideoFrame
from app.live.carried_compositing import CarriedCompositor
from app.pipeline import Processed, StageTimes
from dctnet.engine import Stylizer
from dctnet.styles import FILTER_STYLE, StyleRegistry
from tests.test_compositing import halved, twice_the_size

H, W = 180, 320


@pytest.fixture(scope="module")
def backdrop(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("caches") / "coffee.png"
    cv2.imwrite(str(path), twice_the_size(W, H))
    return str(path)


@pytest.fixture(scope="module")
def two_styles() -> tuple[Stylizer, Stylizer]:
    registry = StyleRegistry()
    return (Stylizer.from_style(registry.get("toon-lite"), device="cpu"),
            Stylizer.from_style(registry.get(FILTER_STYLE), device="cpu"))


def reused_ids(monkeypatch, *modules: str) -> None:
    """Every object gets one id in ``modules``, as after the allocator reuses an address."""
    for module in modules:
        monkeypatch.setattr(f"{module}.id", lambda obj: 1, raising=False)


def expected_backdrop(stylizer: Stylizer, path: str) -> np.ndarray:
    """Computed apart from the code under test: the picture (twice the frame) halved, through
    the frame chain's own stylize of a frame with no face."""
    return stylizer.stylize(halved(cv2.imread(path)), [])


def looks_like(picture: np.ndarray, expected: np.ndarray) -> bool:
    return float(np.abs(picture.astype(int) - expected).mean()) < 1.0


def test_a_new_style_never_gets_the_old_style_s_backdrop(monkeypatch, backdrop, two_styles):
    reused_ids(monkeypatch, "app.compositing")
    first, second = two_styles
    source = BackgroundSource(parse_background(backdrop), stylized=True)
    camera = np.zeros((H, W, 3), np.uint8)
    assert looks_like(source(camera, first), expected_backdrop(first, backdrop))
    again = source(camera, second)
    assert not looks_like(expected_backdrop(first, backdrop), expected_backdrop(second, backdrop)), "two looks"
    assert looks_like(again, expected_backdrop(second, backdrop)), "the second style's backdrop, not the first's"
    assert source(camera, second) is again, "then cached for that style"


def test_the_carried_backdrop_of_a_new_style_is_made_under_the_model_lock(monkeypatch, backdrop, two_styles):
    """The output thread makes a stylized still only while holding the model's lock (the
    Stylizer is not run from two threads at once): a new style's backdrop waits for it."""
    reused_ids(monkeypatch, "app.compositing", "app.live.carried_compositing")
    first, second = two_styles
    lock = threading.Lock()
    carried = CarriedCompositor(StageTimes(), lock)
    wish = Compositing(backdrop, main_person_only=False, stylize_background=True)
    grey = np.full((H, W, 3), 128, np.uint8)  # no person: the whole output is the backdrop
    try:
        def composite(index: int, stylizer: Stylizer) -> Processed:
            frame = VideoFrame(grey, index, time.perf_counter(), index)
            return carried.finish(Processed(frame, grey, grey), carried.begin(frame, wish, None), stylizer)

        assert looks_like(composite(0, first).output, expected_backdrop(first, backdrop))
        done: list[Processed] = []
        with lock:  # the model thread is running the Stylizer
            worker = threading.Thread(target=lambda: done.append(composite(1, second)))
            worker.start()
            worker.join(1.0)
            assert not done, "the new style's backdrop was made beside a model run (or taken from the old style)"
        worker.join(30.0)
        assert done and looks_like(done[0].output, expected_backdrop(second, backdrop))
    finally:
        carried.close()
