"""File reads that fail with one clear message, and atomic writes: a crash, a full
disk or Ctrl-C never leaves a half-written file under the final name, and never
destroys the previous file of that name."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import LiveToonError


def read_input_bytes(path: Path, error: type[LiveToonError] = LiveToonError) -> bytes:
    """A whole input file; missing, folder, unreadable or empty raise ``error``."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file")
    if path.is_dir():
        raise error(f"{path}: is a folder, not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from exc
    if not data:
        raise error(f"{path}: empty file")
    return data


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over."""
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise LiveToonError(f"cannot write to {path.parent}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes owner-only files; outputs are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise LiveToonError(f"cannot write {path}: {exc.strerror}") from exc
        raise
