"""Training photos: fetched from a real local HTTP server, verified by SHA-256, or read offline."""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.errors import LiveToonError
from common.downloads import Downloader
from dctnet.train_photos import MAX_SIDE, PHOTOS, Photo, fetched_path, load_photos, read_photo


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, Path, list[str]]]:
    """(base URL, folder it serves, paths requested)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requested: list[str] = []

    class Recording(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            requested.append(self.path)
            super().do_GET()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Recording, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder, requested
    httpd.shutdown()
    httpd.server_close()


def jpeg(width: int, height: int) -> bytes:
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def photo_for(data: bytes, url: str) -> Photo:
    return Photo("portrait.jpg", "test", "test", False, url, hashlib.sha256(data).hexdigest(), len(data))


def client(tmp_path: Path) -> Downloader:
    return Downloader(cache=tmp_path / "cache", attempts=1, timeout=5)


def test_download_is_verified_cached_and_shrunk_to_video_size(server, tmp_path):
    base, folder, requested = server
    data = jpeg(2000, 1500)
    (folder / "portrait.jpg").write_bytes(data)
    photo = photo_for(data, f"{base}/portrait.jpg")
    path = fetched_path(photo, None, client(tmp_path))
    assert path.read_bytes() == data
    assert fetched_path(photo, None, client(tmp_path)) == path and len(requested) == 1, "second call uses the cache"
    assert read_photo(path).shape == (960, MAX_SIDE, 3)


def test_wrong_bytes_are_refused_and_not_kept(server, tmp_path):
    base, folder, _ = server
    served = jpeg(64, 64)
    (folder / "portrait.jpg").write_bytes(served)
    expected = hashlib.sha256(b"another photo").hexdigest()
    photo = Photo("portrait.jpg", "test", "test", False, f"{base}/portrait.jpg", expected, len(served))
    with pytest.raises(LiveToonError, match="SHA-256 mismatch"):
        fetched_path(photo, None, client(tmp_path))
    assert not any((tmp_path / "cache").iterdir())


def test_a_local_folder_with_the_right_bytes_needs_no_network(server, tmp_path):
    base, folder, requested = server
    data = jpeg(64, 64)
    local = tmp_path / "photos"
    local.mkdir()
    (local / "portrait.jpg").write_bytes(data)
    photo = photo_for(data, f"{base}/portrait.jpg")
    assert fetched_path(photo, local, client(tmp_path)) == local / "portrait.jpg" and not requested
    (local / "portrait.jpg").write_bytes(jpeg(64, 65))  # edited copy: not trusted, fetched instead
    (folder / "portrait.jpg").write_bytes(data)
    assert fetched_path(photo, local, client(tmp_path)).read_bytes() == data and requested == ["/portrait.jpg"]


def test_manifest_holds_out_a_person_and_a_scene():
    held_out = {p.name for p in PHOTOS if p.held_out}
    assert {"coffee.png", "biden.jpg", "biden2.jpg"} <= held_out
    assert not any("biden" in p.name for p in PHOTOS if not p.held_out)
    assert all(p.url.startswith("https://") and len(p.sha256) == 64 and p.size > 0 for p in PHOTOS if not p.bundled)
    assert list(load_photos(True, ("coffee.png",))) == ["coffee.png"]
