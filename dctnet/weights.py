"""Our style file: both models of a style and their metadata in one ``.safetensors``.

Model files are data, never pickles: safetensors here, protobuf and flatbuffers for
the official files (:mod:`dctnet.model_import`).
"""

from __future__ import annotations

import json
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from common.errors import WeightsError
from common.fileio import atomic_write_bytes, read_input_bytes
from .network import check_state_dict, names

STYLE_FORMAT = "livetoon-style/1"
PARTS = ("head", "bg")


def save_style(
    path: Path, head: dict[str, torch.Tensor], bg: dict[str, torch.Tensor], metadata: dict[str, str]
) -> None:
    """Both models of a style in one ``.safetensors``, written atomically.

    Both dicts are checked first so a style that cannot load is never written; the
    format tag and channel counts are set from the tensors, not trusted from callers.
    Tensors are cloned because safetensors refuses shared storage and a style may use
    one generator for both parts.
    """
    bad = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise TypeError(f"style metadata values must be strings (JSON-encode structures): {bad}")
    models = dict(zip(PARTS, (head, bg)))
    channels = {part: check_state_dict(sd, f"the {part} model") for part, sd in models.items()}
    tensors = {f"{part}/{k}": v.detach().cpu().contiguous().clone() for part, sd in models.items() for k, v in sd.items()}
    meta = {**metadata, "format": STYLE_FORMAT, **{f"{part}_channels": str(c) for part, c in channels.items()}}
    atomic_write_bytes(Path(path), safetensors.torch.save(tensors, metadata=meta))


def parse_safetensors(data: bytes, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of safetensors bytes; anything unreadable is one WeightsError naming ``what``."""
    try:
        return safetensors.torch.load(data), safetensors_metadata(data)
    except (safetensors.SafetensorError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"not a safetensors {what} ({reason})") from exc


def safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file already parsed by safetensors itself."""
    header_size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + header_size]).get("__metadata__") or {}


def load_style(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, str]]:
    """(head, bg, metadata) from our ``.safetensors``: float32 state dicts, validated."""
    path = Path(path)
    data = read_input_bytes(path, WeightsError)
    try:
        tensors, metadata = parse_safetensors(data, "style file")
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from exc
    if metadata.get("format") != STYLE_FORMAT:
        found = metadata.get("format")
        raise WeightsError(f"{path}: not a LiveToon style (format {found!r}, expected {STYLE_FORMAT!r})")
    stray = sorted(k for k in tensors if k.partition("/")[0] not in PARTS)
    if stray:
        raise WeightsError(f"{path}: tensors outside head/ and bg/: {names(stray)}")
    parts = []
    for part in PARTS:
        state = {k.partition("/")[2]: v for k, v in tensors.items() if k.partition("/")[0] == part}
        try:
            channels = check_state_dict(state, f"the {part} model")
        except WeightsError as exc:
            raise WeightsError(f"{path}: {exc}") from exc
        claimed = metadata.get(f"{part}_channels", str(channels))
        if claimed != str(channels):
            raise WeightsError(f"{path}: metadata says {part}_channels={claimed}, the tensors have {channels}")
        parts.append({k: v.float().contiguous() for k, v in state.items()})
    return parts[0], parts[1], metadata
