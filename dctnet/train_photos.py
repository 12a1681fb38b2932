"""The photos the built-in styles are trained and validated on, with their licences.

Nothing here is shipped: scikit-image bundles four of the photos, the others are
official White House photographs (works of the US federal government, so public
domain) that the face_recognition project keeps in its repository. Those are fetched
at a pinned commit and checked against their SHA-256, so a rerun trains on the same
bytes, or read from a local folder (``--photo-dir``) on an offline machine.

Biden appears in no training photo: two of the held-out photos test a person the
student has never seen, and ``coffee`` a scene unlike any it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from common.errors import LiveToonError
from common.downloads import Downloader, RemoteFile, file_sha256

FACE_RECOGNITION = "https://raw.githubusercontent.com/ageitgey/face_recognition/2e2dccea9dd0ce730c8d464d0f67c6eebb40c9d1"
WHITE_HOUSE = "White House photograph, US federal government work: public domain"
MAX_SIDE = 1280
"""Photos are shrunk to live-video size: the bg model sees 720p-like frames at inference."""


@dataclass(frozen=True)
class Photo:
    name: str
    credit: str
    licence: str
    held_out: bool
    url: str = ""
    """Empty for a photo scikit-image bundles."""
    sha256: str = ""
    size: int = 0

    @property
    def bundled(self) -> bool:
        return not self.url


PHOTOS = (
    Photo("astronaut.png", "NASA (Eileen Collins)", "public domain", held_out=False),
    Photo("chelsea.png", "Stefan van der Walt", "CC0", held_out=False),
    Photo("rocket.jpg", "SpaceX", "public domain", held_out=False),
    Photo("obama.jpg", "Pete Souza, official portrait 2012", WHITE_HOUSE, False, f"{FACE_RECOGNITION}/examples/obama.jpg",
          "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", 279922),
    Photo("obama2.jpg", "address to a joint session of Congress", WHITE_HOUSE, False, f"{FACE_RECOGNITION}/examples/obama2.jpg",
          "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6", 184455),
    Photo("obama3.jpg", "Blue Room portrait session", WHITE_HOUSE, False, f"{FACE_RECOGNITION}/tests/test_images/obama3.jpg",
          "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3", 595944),
    Photo("coffee.png", "Rachel Michetti", "CC0", held_out=True),
    Photo("biden.jpg", "Blue Room portrait session", WHITE_HOUSE, True, f"{FACE_RECOGNITION}/examples/biden.jpg",
          "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c", 353723),
    Photo("biden2.jpg", "David Lienhart, official portrait 2013", WHITE_HOUSE, True,
          f"{FACE_RECOGNITION}/examples/knn_examples/train/biden/biden2.jpg",
          "593ae76f7fdafe582535e288751e665f0533d5c9d5dc7264db24d7e6b6ce4730", 270753),
    Photo("two_people.jpg", "Blue Room portrait session", WHITE_HOUSE, True, f"{FACE_RECOGNITION}/examples/two_people.jpg",
          "536b29cd513fb618e4d5aa79d51a279948daa804ce359463449cce5f9dc68aa7", 487722),
)
SKIMAGE_ONLY = tuple(p.name for p in PHOTOS if p.bundled)
"""The first version's set, for reproducing its steps exactly."""


def bundled_path(name: str) -> Path:
    """A photo scikit-image ships (a training-only dependency)."""
    try:
        from skimage import data
    except ImportError as exc:
        raise LiveToonError("training needs scikit-image's sample photos: pip install -e '.[test]'") from exc
    return Path(data.__file__).parent / name


def fetched_path(photo: Photo, photo_dir: Path | None, client: Downloader | None) -> Path:
    """A verified copy: from ``photo_dir`` when it has the right bytes, else downloaded."""
    if photo_dir is not None:
        local = photo_dir / photo.name
        if local.is_file() and file_sha256(local) == photo.sha256:
            return local
    remote = RemoteFile(photo.name, photo.size, photo.sha256)
    return (client or Downloader()).fetch_url(photo.url, remote, lambda _: None, photo.name)


def read_photo(path: Path) -> np.ndarray:
    """BGR, longest side at most MAX_SIDE."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise LiveToonError(f"{path}: not a readable image")
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return image


def load_photos(held_out: bool, names: tuple[str, ...] | None = None, photo_dir: Path | None = None,
                client: Downloader | None = None) -> dict[str, np.ndarray]:
    """The training (or held-out) photos by name, restricted to ``names`` when given."""
    chosen = [p for p in PHOTOS if p.held_out == held_out and (names is None or p.name in names)]
    paths = {p.name: bundled_path(p.name) if p.bundled else fetched_path(p, photo_dir, client) for p in chosen}
    return {name: read_photo(path) for name, path in paths.items()}
