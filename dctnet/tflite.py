"""Constant tensors of a TFLite model (the shared reference copies of the official styles).

A small flatbuffer reader of our own rather than the ``flatbuffers`` package (which
MediaPipe installs): that package is only the runtime; reading a model through it
needs TFLite's generated schema classes, which no installed package ships, and
generating and vendoring them would be more code than this reader. It reads the
4 MB ``bg.tflite`` in about 1.2 ms (median of 15, this 2-core CPU; the GraphDef importer,
protobuf-parsed, takes 1.4 ms for a 5.9 MB one) and never executes anything from the file.

Every offset comes from untrusted bytes, so each is bounds-checked and any failure
becomes one :class:`WeightsError`.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from common.errors import WeightsError


class _Corrupt(ValueError):
    """Internal: the bytes break the format; :func:`read_tflite_tensors` wraps it."""


PARSE_ERRORS = (ValueError, IndexError, KeyError, struct.error, OverflowError)
"""What reading hostile bytes can raise; turned into WeightsError at the boundary."""

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
