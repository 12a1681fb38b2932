"""Weights in and out: our ``.safetensors`` styles and importers for the official files.

The official DCT-Net models are TensorFlow frozen graphs (``.pb``, a protobuf
``GraphDef``); the shared reference copies are TFLite flatbuffers (``.tflite``). Both
are read here with small hand-written decoders of their wire formats, so importing
needs neither TensorFlow (whose wheels want a protobuf newer than MediaPipe allows)
nor code execution of any kind: model files are data, never pickles.
"""

from __future__ import annotations

import hashlib
import struct
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


class WeightsError(LiveToonError):
    """A model or style file that cannot be used, with the reason."""


# --- protobuf wire format (GraphDef) -------------------------------------------------
WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5
TF_DTYPES = {1: np.float32, 19: np.float16}  # DT_FLOAT, DT_HALF


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def proto_fields(data: memoryview) -> list[tuple[int, int, int | memoryview]]:
    """Split one message into ``(field, wire_type, value)``; LEN values stay as views."""
    fields = []
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == WIRE_VARINT:
            value, pos = read_varint(data, pos)
        elif wire == WIRE_I64:
            value, pos = int.from_bytes(data[pos:pos + 8], "little"), pos + 8
        elif wire == WIRE_LEN:
            size, pos = read_varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == WIRE_I32:
            value, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("message truncated")
        fields.append((field, wire, value))
    return fields


def tensor_from_proto(msg: memoryview) -> np.ndarray | None:
    """A ``TensorProto`` (float or half) as an array; None for other dtypes."""
    dtype, shape, content, floats, halves = None, [], None, [], []
    for field, wire, value in proto_fields(msg):
        if field == 1:
            dtype = TF_DTYPES.get(value)
        elif field == 2:  # TensorShapeProto.dim -> Dim.size
            shape = [next((v for f, _, v in proto_fields(dim) if f == 1), 0)
                     for f, _, dim in proto_fields(value) if f == 2]
        elif field == 4:
            content = bytes(value)
        elif field == 5:  # float_val, packed or not
            floats += (np.frombuffer(value, "<f4").tolist() if wire == WIRE_LEN
                       else [struct.unpack("<f", value.to_bytes(4, "little"))[0]])
        elif field == 13:  # half_val: fp16 bit patterns in int32 varints
            if wire == WIRE_LEN:
                pos, items = 0, []
                while pos < len(value):
                    item, pos = read_varint(value, pos)
                    items.append(item)
                halves += items
            else:
                halves.append(value)
    if dtype is None:
        return None
    count = int(np.prod(shape)) if shape else 1
    if content is not None:
        array = np.frombuffer(content, np.dtype(dtype).newbyteorder("<")).astype(dtype)
    elif floats or halves:
        values = np.asarray(floats, np.float32) if floats else np.asarray(halves, np.uint16).view(np.float16)
        array = np.full(count, values[0], dtype) if len(values) == 1 else values.astype(dtype)
    else:
        array = np.zeros(count, dtype)
    if array.size != count:
        raise ValueError(f"tensor holds {array.size} values for shape {shape}")
    return array.reshape(shape)


def read_graphdef_constants(data: bytes) -> dict[str, np.ndarray]:
    """Every float ``Const`` node of a frozen ``GraphDef``, by node name."""
    constants: dict[str, np.ndarray] = {}
    for field, _, node in proto_fields(memoryview(data)):
        if field != 1:
            continue
        name = op = tensor = None
        for nfield, _, value in proto_fields(node):
            if nfield == 1:
                name = bytes(value).decode()
            elif nfield == 2:
                op = bytes(value).decode()
            elif nfield == 5:  # attr map entry: key=1, value=2 (AttrValue.tensor=8)
                entry = dict((f, v) for f, _, v in proto_fields(value))
                if bytes(entry.get(1, b"")) == b"value" and 2 in entry:
                    tensor = next((v for f, _, v in proto_fields(entry[2]) if f == 8), None)
        if op == "Const" and name and tensor is not None:
            array = tensor_from_proto(tensor)
            if array is not None:
                constants[name] = array
    return constants


# --- flatbuffers (TFLite) ------------------------------------------------------------
TFLITE_TYPES = {0: np.float32, 1: np.float16}


class FlatTable:
    """Just enough of the flatbuffers layout to walk a TFLite model."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    def _field(self, index: int) -> int | None:
        slot = 4 + 2 * index
        if slot >= self.vtable_size:
            return None
        offset = struct.unpack_from("<H", self.buf, self.vtable + slot)[0]
        return self.pos + offset if offset else None

    def scalar(self, index: int, fmt: str, default: int = 0) -> int:
        at = self._field(index)
        return default if at is None else struct.unpack_from(fmt, self.buf, at)[0]

    def _target(self, index: int) -> int | None:
        at = self._field(index)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, index: int) -> FlatTable | None:
        at = self._target(index)
        return None if at is None else FlatTable(self.buf, at)

    def vector(self, index: int) -> tuple[int, int]:
        """(start, length) of a vector field; (0, 0) when absent."""
        at = self._target(index)
        return (0, 0) if at is None else (at + 4, struct.unpack_from("<I", self.buf, at)[0])

    def tables(self, index: int) -> list[FlatTable]:
        start, length = self.vector(index)
        return [FlatTable(self.buf, start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0]) for i in range(length)]

    def string(self, index: int) -> str:
        start, length = self.vector(index)
        return self.buf[start:start + length].decode()


def read_tflite_tensors(data: bytes) -> dict[str, np.ndarray]:
    """Every float16/float32 tensor that has constant data in a TFLite model, by name."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError("not a TFLite model (no TFL3 identifier)")
    model = FlatTable(data, struct.unpack_from("<I", data, 0)[0])
    buffers = model.tables(4)
    tensors: dict[str, np.ndarray] = {}
    for subgraph in model.tables(2):
        for tensor in subgraph.tables(0):
            dtype = TFLITE_TYPES.get(tensor.scalar(1, "<b"))
            buffer_index = tensor.scalar(2, "<I")
            if dtype is None or not 0 < buffer_index < len(buffers):
                continue
            raw = tensor_bytes(data, buffers[buffer_index])
            if not raw:
                continue
            start, rank = tensor.vector(0)
            shape = struct.unpack_from(f"<{rank}i", data, start) if rank else ()
            array = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<")).astype(dtype)
            tensors[tensor.string(3)] = array.reshape(shape)
    return tensors


def tensor_bytes(data: bytes, buffer: FlatTable) -> bytes:
    """A buffer's bytes: inline (``data``) or, in large models, at ``offset``/``size``."""
    start, length = buffer.vector(0)
    if length:
        return data[start:start + length]
    offset, size = buffer.scalar(1, "<Q"), buffer.scalar(2, "<Q")
    if offset > 1 and size:
        if offset + size > len(data):
            raise ValueError("tensor data lies past the end of the file")
        return data[offset:offset + size]
    return b""


# --- official names -> our state dict ------------------------------------------------
def official_state_dict(tensors: dict[str, np.ndarray], kind: str) -> dict[str, torch.Tensor]:
    """Map ``generator/<layer>/{weights|Conv2D,biases}`` onto TTN's keys (OIHW, float32).

    ``kind`` is ``"pb"`` (weights HWIO) or ``"tflite"`` (weights OHWI, named Conv2D).
    """
    weight_suffix, layout = {"pb": ("weights", (3, 2, 0, 1)), "tflite": ("Conv2D", (0, 3, 1, 2))}[kind]
    state: dict[str, torch.Tensor] = {}
    for name, array in tensors.items():
        if not name.startswith("generator/"):
            continue
        layer, _, leaf = name[len("generator/"):].rpartition("/")
        key = layer.replace("/", ".")
        if leaf == weight_suffix and array.ndim == 4:
            state[f"{key}.weight"] = torch.from_numpy(np.ascontiguousarray(array.transpose(layout), np.float32))
        elif leaf == "biases":
            state[f"{key}.bias"] = torch.from_numpy(np.ascontiguousarray(array, np.float32))
    return validated(state, "model file")


def validated(state: dict[str, torch.Tensor], what: str) -> dict[str, torch.Tensor]:
    """Check the exact key set and every shape against a TTN of the inferred width."""
    first = state.get("Conv.weight")
    if first is None or first.ndim != 4:
        raise WeightsError(f"{what} holds no DCT-Net generator (no generator/Conv weights)")
    expected = TTN(first.shape[0]).state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise WeightsError(f"{what} does not match the DCT-Net generator: missing {missing[:4]}, unexpected {extra[:4]}")
    wrong = [k for k in expected if tuple(state[k].shape) != tuple(expected[k].shape)]
    if wrong:
        k = wrong[0]
        raise WeightsError(f"{what}: {k} has shape {tuple(state[k].shape)}, expected {tuple(expected[k].shape)}")
    return state


def import_model_file(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """Read one official model file (``.pb`` or ``.tflite``): (state dict, SHA-256)."""
    data = read_input_bytes(path, WeightsError)
    sha = hashlib.sha256(data).hexdigest()
    is_tflite = data[4:8] == b"TFL3"
    try:
        tensors = read_tflite_tensors(data) if is_tflite else read_graphdef_constants(data)
    except (ValueError, IndexError, struct.error, UnicodeDecodeError) as exc:
        kind = "TFLite model" if is_tflite else "TensorFlow GraphDef (.pb)"
        raise WeightsError(f"{path}: corrupt or truncated {kind} ({exc})") from exc
    try:
        return official_state_dict(tensors, "tflite" if is_tflite else "pb"), sha
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from exc


# --- our format ----------------------------------------------------------------------
def save_style(path: Path, head: dict[str, torch.Tensor], bg: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Both models of a style in one ``.safetensors``, written atomically.

    Tensors are cloned because safetensors refuses shared storage, and a style may
    use one generator for both parts.
    """
    tensors = {f"{part}/{k}": v.detach().cpu().clone().contiguous() for part, sd in zip(PARTS, (head, bg)) for k, v in sd.items()}
    meta = {**{k: str(v) for k, v in metadata.items()}, "format": STYLE_FORMAT}
    atomic_write_bytes(Path(path), safetensors.torch.save(tensors, metadata=meta))


def load_style(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, str]]:
    """(head, bg, metadata) from our ``.safetensors``; float32 state dicts, validated."""
    path = Path(path)
    try:
        with safetensors.safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except FileNotFoundError as exc:
        raise WeightsError(f"{path}: no such style file") from exc
    except Exception as exc:  # safetensors raises its own SafetensorError and OSErrors
        raise WeightsError(f"{path}: not a valid style file ({str(exc).splitlines()[0]})") from exc
    if metadata.get("format") != STYLE_FORMAT:
        raise WeightsError(f"{path}: not a LiveToon style (format {metadata.get('format')!r}, expected {STYLE_FORMAT!r})")
    parts = []
    for part in PARTS:
        prefix = f"{part}/"
        state = {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
        parts.append(validated(state, f"{path} ({part} model)"))
    return parts[0], parts[1], metadata

