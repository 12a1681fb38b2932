"""Weights in and out: our ``.safetensors`` styles and importers for the official files.

The official DCT-Net models are TensorFlow frozen graphs (``.pb``, a protobuf
``GraphDef``); the shared reference copies are TFLite flatbuffers (``.tflite``). Both
are read here with small hand-written decoders of their wire formats, so importing
needs neither TensorFlow (whose wheels want a protobuf newer than MediaPipe allows)
nor the ``flatbuffers`` package, and never executes anything from a file: model files
are data, never pickles.

Every decoder reads untrusted bytes, so every offset is bounds-checked and every
failure becomes one :class:`WeightsError` with a sentence a user can act on.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch

from .errors import LiveToonError
from .fileio import atomic_write_bytes, read_input_bytes
from .network import TTN

STYLE_FORMAT = "livetoon-style/1"
PARTS = ("head", "bg")
STYLE_DTYPES = (torch.float16, torch.float32)
MAX_ELEMENTS = 1 << 26
"""Largest constant we decode (256 MB as fp32); DCT-Net's biggest holds 147,456."""


class WeightsError(LiveToonError):
    """A model or style file that cannot be used, with the reason in one sentence."""


class _Corrupt(ValueError):
    """Internal: a decoder met bytes that break its format; public readers wrap it."""


PARSE_ERRORS = (ValueError, IndexError, KeyError, struct.error, OverflowError)
"""What a decoder can raise on hostile bytes; turned into WeightsError at the boundary."""


# --- protobuf wire format (GraphDef) -------------------------------------------------
WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5
TF_FLOAT_TYPES = {1: np.dtype(np.float32), 19: np.dtype(np.float16)}  # DT_FLOAT, DT_HALF


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """One base-128 varint at ``pos``: (value, position after it)."""
    value = shift = 0
    while shift < 70:
        if pos >= len(buf):
            raise _Corrupt("message ends inside a number")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise _Corrupt("number longer than 10 bytes")


def proto_fields(msg: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Split one message into ``(field, wire type, value)``; LEN values stay views."""
    pos = 0
    while pos < len(msg):
        key, pos = read_varint(msg, pos)
        field, wire = key >> 3, key & 7
        if wire == WIRE_VARINT:
            value, pos = read_varint(msg, pos)
        elif wire in (WIRE_I64, WIRE_I32):
            size = 8 if wire == WIRE_I64 else 4
            if pos + size > len(msg):
                raise _Corrupt("message ends inside a fixed-size number")
            value, pos = int.from_bytes(msg[pos:pos + size], "little"), pos + size
        elif wire == WIRE_LEN:
            size, pos = read_varint(msg, pos)
            if pos + size > len(msg):
                raise _Corrupt("a field runs past the end of its message")
            value, pos = msg[pos:pos + size], pos + size
        else:
            raise _Corrupt(f"unknown wire type {wire}")
        if field == 0:
            raise _Corrupt("field number 0")
        yield field, wire, value


def sub_message(wire: int, value: int | memoryview) -> memoryview:
    """A field that must hold a nested message (or string); anything else is corrupt."""
    if wire != WIRE_LEN:
        raise _Corrupt("a nested message is stored as a number")
    assert isinstance(value, memoryview)
    return value


def tensor_shape(msg: memoryview) -> list[int]:
    """``TensorShapeProto.dim[*].size``; unknown (-1) sizes cannot occur in a constant."""
    shape = []
    for field, wire, dim in proto_fields(msg):
        if field == 2:
            sizes = [v for f, w, v in proto_fields(sub_message(wire, dim)) if f == 1 and w == WIRE_VARINT]
            size = sizes[-1] if sizes else 0
            if size >= 1 << 62:  # a negative int64
                raise _Corrupt("a constant with an unknown dimension")
            shape.append(size)
    return shape


def float_values(wire: int, value: int | memoryview) -> np.ndarray:
    """``float_val`` entries as float32, packed (one LEN field) or one per I32 field."""
    if wire == WIRE_I32:
        return np.array([value], np.uint32).view(np.float32)
    raw = bytes(sub_message(wire, value))
    if len(raw) % 4:
        raise _Corrupt("packed float_val is not a whole number of floats")
    return np.frombuffer(raw, "<f4").astype(np.float32)


def half_values(wire: int, value: int | memoryview) -> np.ndarray:
    """``half_val`` entries (fp16 bit patterns stored as int32 varints) as float16."""
    if wire == WIRE_VARINT:
        bits = [value]
    else:
        packed, pos, bits = sub_message(wire, value), 0, []
        while pos < len(packed):
            item, pos = read_varint(packed, pos)
            bits.append(item)
    return np.array([b & 0xFFFF for b in bits], np.uint16).view(np.float16)


def fill_to(values: np.ndarray, count: int) -> np.ndarray:
    """TensorFlow's rule for short value lists: the last value repeats to fill the shape."""
    if len(values) > count:
        raise _Corrupt(f"{len(values)} values for {count} elements")
    if len(values) == count:
        return values
    if not len(values):
        return np.zeros(count, values.dtype)
    return np.concatenate([values, np.full(count - len(values), values[-1], values.dtype)])


def decode_tensor(msg: memoryview) -> np.ndarray | None:
    """A ``TensorProto`` as an array; None when it is not float32/float16."""
    dtype, shape, content = None, [], None
    listed: list[np.ndarray] = []
    for field, wire, value in proto_fields(msg):
        if field == 1 and wire == WIRE_VARINT:
            dtype = TF_FLOAT_TYPES.get(value)
        elif field == 2:
            shape = tensor_shape(sub_message(wire, value))
        elif field == 4:
            content = bytes(sub_message(wire, value))
        elif field == 5:
            listed.append(float_values(wire, value))
        elif field == 13:
            listed.append(half_values(wire, value))
    if dtype is None:
        return None
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise _Corrupt(f"a constant of shape {shape} is implausibly large")
    if content is not None:
        if len(content) != count * dtype.itemsize:
            raise _Corrupt(f"a constant of shape {shape} holds {len(content)} bytes")
        flat = np.frombuffer(content, dtype.newbyteorder("<"))
    else:
        wanted = [v for v in listed if v.dtype == dtype]  # float_val for DT_FLOAT, half_val for DT_HALF
        flat = fill_to(np.concatenate(wanted) if wanted else np.zeros(0, dtype), count)
    return np.array(flat, dtype).reshape(shape)


def node_constant(node: memoryview) -> tuple[str, np.ndarray] | None:
    """(name, value) of a float ``Const`` NodeDef; None for any other node."""
    name = op = tensor = None
    for field, wire, value in proto_fields(node):
        if field == 1:
            name = bytes(sub_message(wire, value)).decode()
        elif field == 2:
            op = bytes(sub_message(wire, value)).decode()
        elif field == 5:  # one map<string, AttrValue> entry: key=1, value=2
            entry = {f: sub_message(w, v) for f, w, v in proto_fields(sub_message(wire, value))}
            if bytes(entry.get(1, b"")) == b"value" and 2 in entry:
                tensors = [sub_message(w, v) for f, w, v in proto_fields(entry[2]) if f == 8]
                tensor = tensors[-1] if tensors else None
    if op != "Const" or not name or tensor is None:
        return None
    array = decode_tensor(tensor)
    return None if array is None else (name, array)


def read_graphdef_constants(data: bytes) -> dict[str, np.ndarray]:
    """Every float ``Const`` node's ``value`` of a frozen ``GraphDef``, by node name."""
    constants: dict[str, np.ndarray] = {}
    try:
        for field, wire, node in proto_fields(memoryview(data)):
            if field == 1:
                found = node_constant(sub_message(wire, node))
                if found:
                    constants[found[0]] = found[1]
    except PARSE_ERRORS as exc:
        raise WeightsError(f"not a readable TensorFlow GraphDef (.pb): {exc}") from exc
    return constants


# --- flatbuffers (TFLite) ------------------------------------------------------------
TFLITE_IDENTIFIER = b"TFL3"
TFLITE_FLOAT_TYPES = {0: np.dtype(np.float32), 1: np.dtype(np.float16)}  # TensorType enum


def unpack(buf: bytes, fmt: str, pos: int) -> int:
    """One little-endian scalar at ``pos``, refusing offsets outside the file."""
    if pos < 0 or pos + struct.calcsize(fmt) > len(buf):
        raise _Corrupt(f"offset {pos} lies outside the file ({len(buf)} bytes)")
    return struct.unpack_from(fmt, buf, pos)[0]


class FlatTable:
    """One flatbuffer table: a signed offset to its vtable, which maps fields to offsets."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - unpack(buf, "<i", pos)
        self.vtable_size = unpack(buf, "<H", self.vtable)

    def _field(self, index: int) -> int | None:
        """Absolute position of field ``index``; None when absent (default value)."""
        slot = 4 + 2 * index
        if slot + 2 > self.vtable_size:
            return None
        offset = unpack(self.buf, "<H", self.vtable + slot)
        return self.pos + offset if offset else None

    def scalar(self, index: int, fmt: str, default: int = 0) -> int:
        at = self._field(index)
        return default if at is None else unpack(self.buf, fmt, at)

    def _target(self, index: int) -> int | None:
        """Where an offset field (table, vector, string) points."""
        at = self._field(index)
        return None if at is None else at + unpack(self.buf, "<I", at)

    def vector(self, index: int, item_size: int) -> tuple[int, int]:
        """(start, length) of a vector field, checked to lie in the file; (0, 0) if absent."""
        at = self._target(index)
        if at is None:
            return 0, 0
        length = unpack(self.buf, "<I", at)
        if at + 4 + length * item_size > len(self.buf):
            raise _Corrupt(f"a vector of {length} items runs past the end of the file")
        return at + 4, length

    def tables(self, index: int) -> list[FlatTable]:
        start, length = self.vector(index, 4)
        return [FlatTable(self.buf, start + 4 * i + unpack(self.buf, "<I", start + 4 * i)) for i in range(length)]

    def string(self, index: int) -> str:
        start, length = self.vector(index, 1)
        return self.buf[start:start + length].decode()


def buffer_bytes(data: bytes, buffer: FlatTable) -> bytes:
    """A Buffer's bytes: inline ``data``, or in large models at file ``offset``/``size``."""
    start, length = buffer.vector(0, 1)
    if length:
        return data[start:start + length]
    offset, size = buffer.scalar(1, "<Q"), buffer.scalar(2, "<Q")
    if offset <= 1 or not size:  # 0: no data; 1: the converter's "not yet placed" marker
        return b""
    if offset + size > len(data):
        raise _Corrupt("tensor data lies past the end of the file")
    return data[offset:offset + size]


def tensor_array(data: bytes, tensor: FlatTable, buffers: list[FlatTable]) -> np.ndarray | None:
    """A float16/float32 Tensor's constant value; None for other types or no data."""
    dtype = TFLITE_FLOAT_TYPES.get(tensor.scalar(1, "<b"))
    index = tensor.scalar(2, "<I")
    if dtype is None or index == 0:  # buffer 0 is the schema's empty sentinel
        return None
    if index >= len(buffers):
        raise _Corrupt(f"tensor {tensor.string(3)!r} names buffer {index} of {len(buffers)}")
    raw = buffer_bytes(data, buffers[index])
    if not raw:
        return None
    start, rank = tensor.vector(0, 4)
    shape = struct.unpack_from(f"<{rank}i", data, start) if rank else ()
    if min(shape, default=0) < 0 or math.prod(shape) * dtype.itemsize != len(raw):
        raise _Corrupt(f"tensor {tensor.string(3)!r} of shape {shape} has {len(raw)} bytes")
    return np.frombuffer(raw, dtype.newbyteorder("<")).astype(dtype).reshape(shape)


def read_tflite_tensors(data: bytes) -> dict[str, np.ndarray]:
    """Every float16/float32 tensor that has constant data in a TFLite model, by name."""
    if data[4:8] != TFLITE_IDENTIFIER:
        raise WeightsError("not a TFLite model (no TFL3 identifier at bytes 4..8)")
    tensors: dict[str, np.ndarray] = {}
    try:
        model = FlatTable(data, unpack(data, "<I", 0))
        buffers = model.tables(4)
        for subgraph in model.tables(2):
            for tensor in subgraph.tables(0):
                array = tensor_array(data, tensor, buffers)
                if array is not None:
                    tensors[tensor.string(3)] = array
    except PARSE_ERRORS as exc:
        raise WeightsError(f"corrupt or truncated TFLite model: {exc}") from exc
    return tensors


# --- official names -> our state dict ------------------------------------------------
WEIGHT_LAYOUTS = {"pb": ("weights", (3, 2, 0, 1)), "tflite": ("Conv2D", (0, 3, 1, 2))}
"""Per file kind: the leaf name of a conv's weights and the permutation to OIHW.

A ``.pb`` stores HWIO ``generator/<layer>/weights``. The reference ``.tflite`` files
store OHWI ``generator/<layer>/Conv2D`` in fp16 (their fp32 ``...Conv2D1`` twins are
dequantized copies made at run time, so exact names only)."""


def official_state_dict(tensors: dict[str, np.ndarray], kind: str) -> dict[str, torch.Tensor]:
    """Map ``generator/<layer>/{weights|Conv2D,biases}`` onto TTN's keys (OIHW, float32).

    ``kind`` is ``"pb"`` or ``"tflite"``; the result is checked against a TTN of the
    width the file's first conv implies, so a loadable dict comes back or WeightsError.
    """
    if kind not in WEIGHT_LAYOUTS:
        raise ValueError(f"kind must be 'pb' or 'tflite', not {kind!r}")
    weight_leaf, axes = WEIGHT_LAYOUTS[kind]
    state: dict[str, torch.Tensor] = {}
    for name, array in tensors.items():
        prefix, _, rest = name.partition("/")
        layer, _, leaf = rest.rpartition("/")
        if prefix != "generator" or not layer or leaf not in (weight_leaf, "biases"):
            continue
        if leaf == weight_leaf:
            if array.ndim != 4:
                raise WeightsError(f"{name} has shape {array.shape}, expected a 4-D convolution kernel")
            key, array = f"{layer.replace('/', '.')}.weight", array.transpose(axes)
        else:
            key = f"{layer.replace('/', '.')}.bias"
        state[key] = torch.from_numpy(np.ascontiguousarray(array, np.float32))
    check_state_dict(state, "the model file")
    return state


@functools.lru_cache(maxsize=8)
def expected_shapes(channels: int) -> dict[str, tuple[int, ...]]:
    """TTN(channels)'s tensor shapes, built on the meta device so nothing is allocated."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in TTN(channels).state_dict().items()}


def names(keys: list[str]) -> str:
    """A short list for a message: the first few keys and how many there are."""
    shown = ", ".join(keys[:4])
    return f"{len(keys)} ({shown}{', ...' if len(keys) > 4 else ''})"


def check_state_dict(state: dict[str, torch.Tensor], what: str) -> int:
    """Check keys, shapes, dtypes and finiteness against a TTN; return its channel count."""
    first = state.get("Conv.weight")
    if first is None:
        raise WeightsError(f"{what} holds no DCT-Net generator (no first convolution Conv.weight)")
    if first.ndim != 4 or tuple(first.shape[1:]) != (3, 7, 7) or first.shape[0] < 1:
        raise WeightsError(f"{what}: Conv.weight has shape {tuple(first.shape)}, expected (channels, 3, 7, 7)")
    channels = int(first.shape[0])
    expected = expected_shapes(channels)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        found = (("missing", missing), ("unexpected", unexpected))
        problems = [f"{label} {names(keys)}" for label, keys in found if keys]
        raise WeightsError(f"{what} does not match a {channels}-channel DCT-Net generator: {'; '.join(problems)}")
    for key, shape in expected.items():
        tensor = state[key]
        if tuple(tensor.shape) != shape:
            raise WeightsError(f"{what}: {key} has shape {tuple(tensor.shape)}, expected {shape}")
        if tensor.dtype not in STYLE_DTYPES:
            raise WeightsError(f"{what}: {key} is {tensor.dtype}, expected float16 or float32")
        if not torch.isfinite(tensor).all():
            raise WeightsError(f"{what}: {key} holds NaN or infinite values")
    return channels


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


# --- our format ----------------------------------------------------------------------
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
