"""The first-run offer of the official styles, offscreen, against a local HTTP server playing ModelScope."""

from __future__ import annotations

import threading

import pytest
from PyQt6.QtCore import QSettings, Qt

from app.gui import first_run
from app.gui.get_styles_dialog import GetStylesDialog
from app.gui.window import MainWindow
from dctnet.styles import StyleRegistry
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
