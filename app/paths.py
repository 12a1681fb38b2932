"""Command-line inputs and outputs: folders expanded, outputs planned, folders made."""

from __future__ import annotations

from pathlib import Path

from common.errors import LiveToonError


def expand_inputs(inputs: list[Path], suffixes: tuple[str, ...], what: str) -> list[Path]:
    """Files as given; folders replaced by the ``suffixes`` files directly inside, sorted.

    Missing inputs fail here, before any model is loaded.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not files:
                raise LiveToonError(f"{item}: folder holds no {what} ({', '.join(suffixes)})")
            found += files
        elif not item.exists():
            raise LiveToonError(f"{item}: no such file")
        else:
            found.append(item)
    return found


def ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LiveToonError(f"cannot create output folder {folder}: {exc.strerror}") from exc
