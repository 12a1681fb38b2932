"""The first-run offer of the official styles, offscreen, against a local HTTP server playing ModelScope."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import pytest
from PyQt6.QtCore import QSettings, Qt

from app.gui import first_run
from app.gui.fitting import DefaultsFitter
from app.gui.get_styles_dialog import GetStylesDialog
from app.gui.window import MainWindow
from app.live.fit_timing import Candidate, Rates
from app.live.settings import FileSpec
from dctnet.styles import StyleRegistry
from tests.clips import write_clip
from tests.test_hub import BG, HEAD, hub  # noqa: F401 - the local hub fixture

TIMEOUT_MS = 30_000


@pytest.fixture
def store(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "livetoon.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def registry(tmp_path, monkeypatch) -> StyleRegistry:
    monkeypatch.setenv("LIVETOON_CACHE_DIR", str(tmp_path / "cache"))
    return StyleRegistry(user=tmp_path / "styles")


def test_sizes_read_as_people_write_them():
    assert [first_run.readable_size(n) for n in (48_213, 2_345_678, 57_600_000)] == ["48 kB", "2.3 MB", "58 MB"]


def open_window(qtbot, store: QSettings, registry: StyleRegistry) -> MainWindow:
    window = MainWindow(store=store, registry=registry, source=None)  # no source: no pipeline threads needed here
    qtbot.addWidget(window)
    window.show()
    return window


def listings(hub) -> int:  # noqa: F811
    return sum(1 for request in hub.requests if request.path.endswith("/repo/files"))


def probe_finished() -> bool:
    return not any(thread.name == "styles-offer" for thread in threading.enumerate())


def test_offer_names_the_style_and_its_size_and_one_click_downloads_it(qtbot, store, registry, hub, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LIVETOON_HUB_ENDPOINT", hub.url)
    window = open_window(qtbot, store, registry)
    offer = window.styles_offer
    qtbot.waitUntil(offer.isVisible, timeout=TIMEOUT_MS)
    graphs = len(HEAD) + len(BG)  # the mask may or may not be fetched; its bytes do not change the rounding
    assert "anime" in offer.text.text() and f"({round(graphs / 1e3)} kB" in offer.text.text(), offer.text.text()
    assert store.value("first_run/styles_offer") == "shown"

    qtbot.mouseClick(offer.download_button, Qt.MouseButton.LeftButton)
    dialog = window.findChild(GetStylesDialog)
    assert dialog is not None and dialog.isVisible() and not offer.isVisible()
    qtbot.waitUntil(lambda: "anime" in [window.look.style_combo.itemText(i) for i in range(window.look.style_combo.count())],
                    timeout=TIMEOUT_MS)
    assert registry.get("anime").path is not None and store.value("first_run/styles_offer") == "download"
    dialog.close()
    window.close()


def test_no_thanks_is_remembered(qtbot, store, registry, hub, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LIVETOON_HUB_ENDPOINT", hub.url)
    window = open_window(qtbot, store, registry)
    qtbot.waitUntil(window.styles_offer.isVisible, timeout=TIMEOUT_MS)
    qtbot.mouseClick(window.styles_offer.decline_button, Qt.MouseButton.LeftButton)
    assert not window.styles_offer.isVisible() and store.value("first_run/styles_offer") == "declined"
    window.close()
    asked = listings(hub)
    again = open_window(qtbot, store, registry)
    qtbot.waitUntil(probe_finished, timeout=TIMEOUT_MS)
    assert listings(hub) == asked and not again.styles_offer.isVisible(), "asked once, never again"
    again.close()


def test_offline_it_says_so_briefly_and_asks_again_next_time(qtbot, store, registry, monkeypatch):
    monkeypatch.setenv("LIVETOON_HUB_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: connection refused
    monkeypatch.setattr(first_run, "OFFLINE_NOTE_MS", 500)
    window = open_window(qtbot, store, registry)
    offer = window.styles_offer
    qtbot.waitUntil(offer.isVisible, timeout=TIMEOUT_MS)
    assert "offline" in offer.text.text() and "connection refused" in offer.text.text()
    assert not offer.download_button.isVisible() and not offer.decline_button.isVisible()
    qtbot.waitUntil(lambda: not offer.isVisible(), timeout=5000)
    assert not store.value("first_run/styles_offer"), "not offered yet: the next online start offers it"
    window.close()


def test_no_offer_when_another_style_is_installed(qtbot, store, registry, hub, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LIVETOON_HUB_ENDPOINT", hub.url)
    head, bg, _ = registry.get("toon-lite").load()
    registry.install("mine", head, bg, {"origin": "test"})
    window = open_window(qtbot, store, registry)
    qtbot.waitUntil(probe_finished, timeout=TIMEOUT_MS)
    qtbot.wait(200)
    assert listings(hub) == 0 and not window.styles_offer.isVisible()
    window.close()


# -- the first run's choice of settings: its banner, and the picture it is timed on -----------

@pytest.fixture(scope="module")
def gui_clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("fit") / "clip.mp4", frames=24, size=(320, 240), rate=Fraction(24), audio=())


def fitted_window(qtbot, tmp_path, clip_file) -> MainWindow:
    """A window running ``clip_file`` that has taken a first-run choice made from handed-in
    measurements (the timing itself is benchmarks/first_run_fit.py's)."""
    from app.live.fit_timing import Candidate, Rates
    from app.live.fitting_defaults import chosen

    store = QSettings(str(tmp_path / "used.ini"), QSettings.Format.IniFormat)
    store.setValue("live/style", "toon-filter")  # not a first run: nothing is timed here
    window = MainWindow(store=store, source=FileSpec(clip_file))
    qtbot.addWidget(window)
    window.show()
    window._apply_fit(chosen(Candidate("toon-lite", 360, "auto"), Rates(29.5, 3.1, 33.0)), window.source_spec)
    assert window.banner.isVisible() and window.banner.text.text().startswith("No GPU: chose toon-lite at 360p with model fps Auto")
    assert (window.look.style_combo.currentText(), window.processing.size_combo.currentData(),
            window.processing.model_fps_combo.currentData()) == ("toon-lite", 360, "auto")
    return window


def choose(combo, data) -> None:
    """As a user picks an item: the index changes and ``activated`` fires."""
    combo.setCurrentIndex(combo.findData(data) if data is not None else combo.findText("toon"))
    combo.activated.emit(combo.currentIndex())


@pytest.mark.parametrize("control, value", [("style", None), ("size", 480), ("model fps", "every")])
def test_the_choice_banner_goes_once_the_user_changes_what_it_promised_for(qtbot, tmp_path, gui_clip, control, value):
    """It kept saying "chose toon-filter ... 9.0 fps" after the user switched style."""
    window = fitted_window(qtbot, tmp_path, gui_clip)
    combo = {"style": window.look.style_combo, "size": window.processing.size_combo,
             "model fps": window.processing.model_fps_combo}[control]
    choose(combo, value)
    assert not window.banner.isVisible() and window.fit is None
    window.close()


def test_the_choice_banner_stays_through_changes_it_did_not_promise_for(qtbot, tmp_path, gui_clip):
    window = fitted_window(qtbot, tmp_path, gui_clip)
    window.look.stability_slider.setValue(window.look.stability_slider.value() - 10)
    assert window.processor.settings.stability != 0.7
    assert window.banner.isVisible() and window.fit is not None
    window.close()


def test_with_nothing_to_show_the_first_run_times_the_first_source_opened(qtbot, tmp_path, gui_clip):
    """The choice is timed on the user's own picture: with no camera and no file there is
    none, so nothing is timed (it was, on a synthetic pattern) until a file is opened; then
    the frames being timed are painted as a session's would be."""
    fresh = QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat)
    window = MainWindow(store=fresh, source=None)
    qtbot.addWidget(window)
    window.show()
    try:
        assert not fitting_threads() and window.worker is None and "open a video file" in window.preview.message
        window.start_source(FileSpec(gui_clip))
        assert fitting_threads() and "Choosing settings" in window.preview.message and window.worker is None
        qtbot.waitUntil(lambda: window.preview.frames_shown > 0, timeout=120_000)
        assert window.worker is None and "Choosing settings" in window.preview.message, \
            "the candidates' frames are painted while timed, under the note (painting is part of the cost)"
    finally:
        window.close()
    assert not fitting_threads()


def fitting_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "fit-defaults" and thread.is_alive()]


def test_the_timing_runs_on_the_users_own_source_and_reads_the_overlays_figure(gui_clip):
    """The source played as the window plays it, through the live pipeline; the figure is
    the overlay's, and carried frames were compared with model frames of the same picture."""
    from app.live.fit_timing import Candidate, live_rates

    made = []
    rates = live_rates(StyleRegistry(), Candidate("toon-filter", 360, "auto"), FileSpec(gui_clip), on_frame=made.append)
    assert 0 < rates.shown_fps <= 25 and rates.model_fps > 0, "the clip plays at 24 fps"
    assert rates.carried_db is not None and rates.carried_db > 20, "a carried frame looks like the model's frame"
    assert made and made[0].output.shape == (240, 320, 3) and any(processed.propagated for processed in made)


def test_a_measurement_that_crashes_starts_the_plain_defaults_and_says_why(qtbot, gui_clip, monkeypatch, caplog):
    """Anything other than a LiveToonError from the timing (a bug, torch out of memory) ended the
    thread with a traceback and left the window waiting for a choice that never came."""
    monkeypatch.setattr("app.live.fitting_defaults.cuda_unavailable_reason", lambda: "no CUDA device")

    def crashing(candidate: Candidate) -> Rates:
        raise RuntimeError("out of memory while timing")

    fitter = DefaultsFitter(StyleRegistry(), FileSpec(gui_clip), measure=crashing)
    with qtbot.waitSignal(fitter.fitted, timeout=10_000) as fitted:
        fitter.start()
    fitter.stop()
    assert fitted.args == [None], "no choice: the window goes on with the plain defaults"
    assert "RuntimeError: out of memory while timing" in caplog.text
