"""Shared test fixtures: the reference data location and real photos.

Photos come from scikit-image's bundled data (public domain / openly licensed, see
skimage/data/README.txt); nothing from them is committed to this repository.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never ask the real styles hub (the window's first-run offer would): a closed local
# port answers "connection refused" at once. Tests that want a hub start their own.
os.environ.setdefault("LIVETOON_HUB_ENDPOINT", "http://127.0.0.1:9")

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "dctnet-reference"
needs_reference = pytest.mark.needs_reference
"""The test reads ../shared/dctnet-reference: skipped outside a clone that has it, a failure
in CI, where it is always laid beside the clone (see :func:`pytest_runtest_setup`)."""


def in_ci() -> bool:
    """``.ci/run`` exports ``CI=1``: every test it is meant to run must run there."""
    return os.environ.get("CI") == "1"


def skip_unless_ci(message: str) -> NoReturn:
    """Skip, saying why, where a test cannot run; in CI (``CI=1``) fail instead: a quiet skip
    there would let the behaviour the test names break unseen."""
    if in_ci():
        pytest.fail(f"{message}; CI must run this test", pytrace=False)
    pytest.skip(message)


def import_or_skip_unless_ci(module: str, message: str) -> ModuleType:
    """``module``, or a skip (a failure in CI) saying ``message``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        skip_unless_ci(message)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_reference: reads ../shared/dctnet-reference (a failure in CI without it)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_reference") is not None and not REFERENCE_DIR.is_dir():
        skip_unless_ci("../shared/dctnet-reference is absent (outside clone): conformance data unavailable")


@pytest.fixture(scope="session", autouse=True)
def tuned_for_frames() -> None:
    """The process set up as the ``livetoon`` program sets itself up (its fd 2 filter aside:
    pytest owns fd 2 here), so model runs in tests cost what they cost users."""
    from app.process_setup import tune_for_frames

    tune_for_frames()


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """A real 512x512 portrait (NASA, public domain), as BGR uint8."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory):
    """LiveToon built as a wheel and installed without ``-e`` in a fresh venv (slow: once per run)."""
    from tests.installed import build_and_install, remove_in_background

    workdir = tmp_path_factory.mktemp("wheel-install")
    yield build_and_install(workdir)
    remove_in_background(workdir / "venv")  # about 2 GB, mostly torch
