"""Styles: a head model, a background model and their metadata, in one file.

Built-in styles ship in the ``weights`` package (trained by LiveToon itself); user
styles live in the user data dir, so an upgrade or a read-only install never loses
them. ``LIVETOON_DATA_DIR`` moves the user dir (tests, portable installs).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from common.errors import LiveToonError
from .toon_teacher import ToonRenderer
from .cartoon_teacher import CartoonHead
from .model_import import import_model_file
from .weights import load_style, save_style

STYLE_SUFFIX = ".safetensors"
DEFAULT_STYLE = "toon"
FILTER_STYLE = "toon-filter"
"""The procedural renderer the built-in styles learned from, offered as a style itself."""
DRAW_STYLE = "toon-draw"
"""The procedural teacher that redraws the face from its mesh (dctnet.cartoon_teacher); no network."""
BUILTIN_SUMMARIES = {
    DEFAULT_STYLE: "built-in: flat colours and dark outlines, DCT-Net trained by LiveToon (best with a GPU)",
    "toon-lite": "built-in: the same look from a generator 3.5x faster on a CPU, a little softer",
    FILTER_STYLE: "built-in: the procedural renderer toon learned from; no network, crisper lines",
    DRAW_STYLE: "built-in: a procedural cartoon that redraws the face (larger eyes, drawn irises, flat skin); no network",
}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HEAD_HINTS = ("head", "_h")
BG_HINTS = ("bg",)
IMPORTABLE_SUFFIXES = (".pb", ".tflite", STYLE_SUFFIX)


def user_data_dir() -> Path:
    """``LIVETOON_DATA_DIR``, else the platform's user data folder.

    platformdirs is imported only here: the GPU benchmark image lacks it, and a run
    that sets the variable needs nothing more.
    """
    override = os.environ.get("LIVETOON_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("livetoon", appauthor=False))


def builtin_dir() -> Path:
    return Path(str(resources.files("weights")))


StylePart = dict[str, torch.Tensor] | torch.nn.Module
"""A TTN's weights, or a module that needs none (the procedural renderer)."""


@dataclass(frozen=True)
class Style:
    name: str
    path: Path | None
    """None for the procedural style, which has no file."""
    builtin: bool

    @property
    def summary(self) -> str:
        """One line a user can choose by (the window shows it as the style's tooltip)."""
        if self.builtin:
            return BUILTIN_SUMMARIES.get(self.name, "built-in")
        return f"installed style ({self.path.name if self.path else self.name})"

    def load(self) -> tuple[StylePart, StylePart, dict[str, str]]:
        """(head, bg, metadata); raises WeightsError on a bad file."""
        if self.path is None:
            renderer = ToonRenderer()
            head, origin = (CartoonHead(), "dctnet.cartoon_teacher") if self.name == DRAW_STYLE else (renderer, "dctnet.toon_teacher")
            return head, renderer, {"name": self.name, "origin": f"procedural: {origin}", "padding": "replicate"}
        return load_style(self.path)


class StyleRegistry:
    """Finds, imports and removes styles by name. User styles cannot shadow built-ins."""

    def __init__(self, builtin: Path | None = None, user: Path | None = None) -> None:
        self.builtin_dir = builtin or builtin_dir()
        self.user_dir = user if user is not None else user_data_dir() / "styles"

    def _scan(self, folder: Path, builtin: bool) -> dict[str, Style]:
        if not folder.is_dir():
            return {}
        return {p.stem: Style(p.stem, p, builtin) for p in sorted(folder.glob(f"*{STYLE_SUFFIX}"))}

    def all(self) -> list[Style]:
        styles = self._scan(self.user_dir, builtin=False)
        styles.update(self._scan(self.builtin_dir, builtin=True))
        styles[FILTER_STYLE] = Style(FILTER_STYLE, None, builtin=True)
        styles[DRAW_STYLE] = Style(DRAW_STYLE, None, builtin=True)
        return sorted(styles.values(), key=lambda s: (not s.builtin, s.name))

    def get(self, name: str) -> Style:
        for style in self.all():
            if style.name == name:
                return style
        known = ", ".join(s.name for s in self.all()) or "none installed"
        raise LiveToonError(f"unknown style {name!r} (available: {known}); see `livetoon styles list`")

    def import_folder(
        self, folder: Path, name: str | None = None, replace: bool = False, metadata: Mapping[str, str] | None = None
    ) -> Style:
        """Convert a folder's head and bg model files (``.pb``, ``.tflite``, ``.safetensors``) into a user style.

        ``metadata`` adds to (or overrides, e.g. ``origin``) what is recorded, so a caller
        that fetched the files from somewhere can say where from.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise LiveToonError(f"{folder}: not a folder (expected one holding a head and a bg model file)")
        name = name or folder.name
        self.check_new_name(name, replace)
        head_path, bg_path = find_head_and_bg(folder)
        target = self.user_dir / f"{name}{STYLE_SUFFIX}"
        for source in (head_path, bg_path):  # the folder being imported is an input like any other
            if target.exists() and os.path.samefile(source, target):
                raise LiveToonError(f"{target}: the style would overwrite its own input {source}; choose another --name")
        head, head_sha = import_model_file(head_path)
        bg, bg_sha = import_model_file(bg_path)
        recorded = {
            "name": name,
            "origin": f"imported from {folder.resolve()}",
            "source_sha256": json.dumps({head_path.name: head_sha, bg_path.name: bg_sha}),
            "head_channels": str(head["Conv.weight"].shape[0]),
            "bg_channels": str(bg["Conv.weight"].shape[0]),
            **(metadata or {}),
        }
        return self.install(name, head, bg, recorded)

    def install(self, name: str, head: dict, bg: dict, metadata: dict[str, str]) -> Style:
        target = self.user_dir / f"{name}{STYLE_SUFFIX}"
        try:
            self.user_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LiveToonError(f"cannot create the styles folder {self.user_dir}: {exc.strerror}") from exc
        save_style(target, head, bg, metadata)
        return Style(name, target, builtin=False)

    def remove(self, name: str) -> None:
        style = self.get(name)
        if style.builtin:
            raise LiveToonError(f"{name!r} is a built-in style and cannot be removed")
        try:
            style.path.unlink()
        except OSError as exc:  # a read-only or immutable styles folder: the style stays, and the user is told why
            raise LiveToonError(f"cannot remove style {name!r} ({style.path}): {exc.strerror or exc}") from exc

    def check_new_name(self, name: str, replace: bool) -> None:
        """Refuse a name that is invalid, built-in, or taken (unless ``replace``): callers
        that must fetch files first check here so a refusal costs no download."""
        if not NAME_PATTERN.match(name):
            raise LiveToonError(f"invalid style name {name!r}: use letters, digits, '-', '_' or '.'")
        existing = {s.name: s for s in self.all()}
        if name in existing and existing[name].builtin:
            raise LiveToonError(f"{name!r} is a built-in style; choose another --name")
        if name in existing and not replace:
            raise LiveToonError(f"a style named {name!r} exists; remove it first or pass --replace")


def find_head_and_bg(folder: Path) -> tuple[Path, Path]:
    """Pick the head and bg model files by name (``head.tflite``, ``cartoon_h.pb``, ``bg.safetensors``...).

    Names choose the role; the importer then reads each file by its content, whatever
    its extension claims. When a role has no candidate, the files that were passed over
    are named, so a ``head.pth`` or a misspelt name is visible in the one error line.
    """
    entries = [p for p in sorted(folder.iterdir()) if p.is_file()]
    files = [p for p in entries if p.suffix.lower() in IMPORTABLE_SUFFIXES]
    skipped = [p.name for p in entries if p not in files]

    def pick(hints: tuple[str, ...], role: str) -> Path:
        found = [p for p in files if any(p.stem.lower().endswith(h) or p.stem.lower() == h.strip("_") for h in hints)]
        if len(found) != 1:
            what = "no" if not found else f"{len(found)} candidate"
            ignored = f" (ignored, not {' / '.join(IMPORTABLE_SUFFIXES)}: {', '.join(skipped[:5])})" if skipped else ""
            raise LiveToonError(
                f"{folder}: {what} {role} model file(s) found; expected exactly one named like "
                f"{role}.tflite / {role}.pb / {role}.safetensors / cartoon_{'h' if role == 'head' else 'bg'}.pb{ignored}"
            )
        return found[0]

    return pick(HEAD_HINTS, "head"), pick(BG_HINTS, "bg")
