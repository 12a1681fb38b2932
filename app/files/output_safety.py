"""Where a command may write: the one set of rules every writer follows.

Every writer (``image``, ``convert``, ``live --record``, the window's recording, and
whatever writes files next) plans its outputs through :func:`check_outputs` and
writes through a :func:`temporary_beside` name:

* an output is never one of the run's inputs (every file it reads: a ``--background``
  too), however it is spelled: ``..``,
  symlinks and hard links all name the same file (compared by device and inode);
* two inputs of one run never map to the same output name (the second would
  silently replace the first);
* the temporary file is created exclusively under a name no other run can pick, in
  the output's own folder (so the final rename is atomic): two runs writing the same
  OUT never trade files, and each run's rename moves exactly what it wrote.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from common.errors import LiveToonError


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (same path after resolving, or same inode)."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return Path(a).exists() and Path(b).exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting(outputs: Iterable[Path], inputs: Iterable[Path | None]) -> None:
    """Refuse any output that is also one of the inputs, however either is spelled."""
    inputs = [Path(p) for p in inputs if p is not None]
    for dst in outputs:
        for src in inputs:
            if same_file(src, dst):
                raise LiveToonError(f"{dst}: the output would overwrite its own input {src}; choose another output")


def check_outputs(pairs: Sequence[tuple[Path, Path]], also_read: Iterable[Path | None] = ()) -> None:
    """A batch's (input, output) plan: no output over any input, no two inputs to one output.

    ``also_read``: every other file the run reads (a ``--background`` picture or video):
    an input too, though it is not converted."""
    refuse_overwriting([dst for _, dst in pairs], [*(src for src, _ in pairs), *also_read])
    seen: dict[str, Path] = {}
    for src, dst in pairs:
        key = os.path.abspath(dst)
        if key in seen:
            raise LiveToonError(f"{seen[key]} and {src} would both be written to {dst}; give them separate runs or rename one")
        seen[key] = src


def claim_partial_name(path: Path) -> Path:
    """The first free one of ``NAME.partial.EXT``, ``NAME.partial-2.EXT``..., made empty and
    exclusively: a partial file never lands on a file that exists (an input that happens
    to be called ``x.partial.mp4``, the partial of an earlier, longer run), and no other
    run can take the name between the choice and the rename."""
    path = Path(path)
    for attempt in itertools.count(1):
        candidate = path.with_name(f"{path.stem}.partial{'' if attempt == 1 else f'-{attempt}'}{path.suffix}")
        try:
            os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        except OSError as exc:
            raise LiveToonError(f"cannot keep a partial file beside {path}: {exc.strerror or exc}") from exc
        return candidate
    raise AssertionError("itertools.count never ends")


def temporary_beside(path: Path) -> Path:
    """Create an empty, hidden temporary file next to ``path`` under a name unique to this run.

    It keeps ``path``'s extension (FFmpeg picks the muxer by it). A missing or
    unwritable folder fails here, before any work is done.
    """
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as exc:
        raise LiveToonError(f"cannot write {path}: {exc.strerror or exc}") from exc
    os.fchmod(fd, 0o644)  # mkstemp makes owner-only files; outputs are ordinary files
    os.close(fd)
    return Path(name)
