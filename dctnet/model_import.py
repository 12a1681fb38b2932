"""One model file into a TTN state dict: ``.pb``, ``.tflite`` or ``.safetensors``, told apart by content.

What ``livetoon styles import`` reads. The official readers live in :mod:`dctnet.graphdef`
and :mod:`dctnet.tflite`, the official names' mapping next to the network
(:func:`dctnet.network.official_state_dict`), our own style format in :mod:`dctnet.weights`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from common.errors import WeightsError
from common.fileio import read_input_bytes
from .graphdef import read_graphdef_constants
from .network import check_state_dict, official_state_dict
from .tflite import TFLITE_IDENTIFIER, read_tflite_tensors
from .weights import STYLE_FORMAT, parse_safetensors

FOREIGN_MAGIC = (
    (b"PK\x03\x04", "a zip archive (PyTorch .pt/.pth checkpoints are zips of pickles, which LiveToon never "
                    "loads because unpickling can run code; save the state dict with safetensors instead)"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 model?)"),
    (b"\x1f\x8b", "a gzip archive (unpack it first)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)
"""Formats people plausibly drop into an import folder, told apart by their first bytes."""
CLAIMED_FORMAT_HINTS = {
    ".safetensors": "no safetensors header (8 bytes giving the length of a JSON header)",
    ".tflite": "no TFL3 identifier at bytes 4..8",
}


def is_safetensors(data: bytes) -> bool:
    """A safetensors file: a little-endian u64 header length, then that many bytes of JSON."""
    header_size = int.from_bytes(data[:8], "little")
    return len(data) >= 10 and 2 <= header_size <= len(data) - 8 and data[8:9] == b"{"


def foreign_format(data: bytes) -> str | None:
    """What a file we cannot import is, when its first bytes say so; None otherwise."""
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (LiveToon never unpickles model files: unpickling can run code)"
    return next((what for magic, what in FOREIGN_MAGIC if data.startswith(magic)), None)


def model_file_kind(data: bytes) -> str:
    """``"tflite"``, ``"safetensors"`` or ``"pb"``, judged by content rather than by name.

    An extension can lie (a renamed file, a download saved under the wrong name), and a
    wrong guess gives a misleading message, so the content decides. A GraphDef has no
    magic number, so ``"pb"`` is what is left after the recognisable formats.
    """
    if data[4:8] == TFLITE_IDENTIFIER:
        return "tflite"
    if is_safetensors(data):
        return "safetensors"
    what = foreign_format(data)
    if what:
        raise WeightsError(f"this is {what}, not a model file LiveToon imports (.pb, .tflite or .safetensors)")
    return "pb"


def read_graphdef_model(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    """A GraphDef's generator; when the name promised a format with a signature the bytes
    lack, a failure says that, rather than blaming a GraphDef nobody meant to give."""
    try:
        return official_state_dict(read_graphdef_constants(data), "pb")
    except WeightsError as exc:
        claimed = path.suffix.lower()
        if claimed in CLAIMED_FORMAT_HINTS:
            raise WeightsError(f"not a {claimed} file ({CLAIMED_FORMAT_HINTS[claimed]}), nor a TensorFlow GraphDef") from exc
        raise


def read_generator_safetensors(data: bytes) -> dict[str, torch.Tensor]:
    """One DCT-Net generator saved with safetensors under TTN's own keys (``Conv.weight``...).

    A trainer checkpoint is accepted too (its ``model/`` tensors; the optimizer state is
    left out). A whole LiveToon style is refused with what to do instead, because
    importing expects one model per file and guessing which half was meant could
    silently install the wrong network.
    """
    tensors, metadata = parse_safetensors(data, "model file")
    if metadata.get("format") == STYLE_FORMAT:
        raise WeightsError(
            "a whole LiveToon style (head and bg in one file), not one model: put it in the user styles "
            "folder as NAME.safetensors instead of importing it"
        )
    if any(key.startswith("model/") for key in tensors):
        tensors = {key[len("model/"):]: value for key, value in tensors.items() if key.startswith("model/")}
    check_state_dict(tensors, "the safetensors file")
    return {key: value.float().contiguous() for key, value in tensors.items()}


def import_model_file(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """Read one model file, ``.pb``, ``.tflite`` or ``.safetensors`` by content: (state dict, SHA-256)."""
    path = Path(path)
    data = read_input_bytes(path, WeightsError)
    try:
        kind = model_file_kind(data)
        if kind == "tflite":
            state = official_state_dict(read_tflite_tensors(data), "tflite")
        elif kind == "safetensors":
            state = read_generator_safetensors(data)
        else:
            state = read_graphdef_model(path, data)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from exc
    return state, hashlib.sha256(data).hexdigest()
