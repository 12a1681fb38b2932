"""Float constants of a TensorFlow frozen ``GraphDef`` (the official ``.pb`` styles).

Parsed by protobuf itself with message classes declared here: the GraphDef subset
the official files use, with TensorFlow's field numbers (unknown fields are kept and
ignored). No TensorFlow and no generated ``_pb2`` modules are needed, and nothing in
a file is executed. The project pins ``protobuf<5`` for MediaPipe; TensorFlow's own
wheels would want a newer one, which is why TensorFlow itself is not used.
"""

from __future__ import annotations

import math

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message import DecodeError

from common.errors import WeightsError

try:
    from google.protobuf.message_factory import GetMessageClass
except ImportError:  # protobuf < 4.21
    from google.protobuf.message_factory import MessageFactory

    def GetMessageClass(descriptor):  # noqa: N802 - mirrors protobuf's name
        return MessageFactory().GetPrototype(descriptor)


MAX_ELEMENTS = 1 << 26
"""Largest constant we accept (256 MB as fp32); DCT-Net's biggest holds 147,456."""
TF_FLOAT_TYPES = {1: np.dtype(np.float32), 19: np.dtype(np.float16)}  # DT_FLOAT, DT_HALF
F = descriptor_pb2.FieldDescriptorProto
MESSAGES = {  # outer messages before their nested ones
    "TensorShapeProto": [("dim", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tf.TensorShapeProto.Dim")],
    "TensorShapeProto.Dim": [("size", 1, F.TYPE_INT64, F.LABEL_OPTIONAL, None)],
    "TensorProto": [
        ("dtype", 1, F.TYPE_INT32, F.LABEL_OPTIONAL, None),
        ("tensor_shape", 2, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".tf.TensorShapeProto"),
        ("tensor_content", 4, F.TYPE_BYTES, F.LABEL_OPTIONAL, None),
        ("float_val", 5, F.TYPE_FLOAT, F.LABEL_REPEATED, None),
        ("half_val", 13, F.TYPE_INT32, F.LABEL_REPEATED, None),
    ],
    "AttrValue": [("tensor", 8, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".tf.TensorProto"),
                  ("s", 2, F.TYPE_BYTES, F.LABEL_OPTIONAL, None)],
    "NodeDef": [
        ("name", 1, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
        ("op", 2, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
        ("input", 3, F.TYPE_STRING, F.LABEL_REPEATED, None),
        ("attr", 5, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tf.NodeDef.AttrEntry"),
    ],
    "NodeDef.AttrEntry": [("key", 1, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
                          ("value", 2, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".tf.AttrValue")],
    "GraphDef": [("node", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tf.NodeDef")],
}


def _message_classes() -> dict[str, type]:
    """The declared messages as protobuf classes, in a pool of their own (no clash with TF's)."""
    file_proto = descriptor_pb2.FileDescriptorProto(name="livetoon_graphdef.proto", package="tf", syntax="proto3")
    declared: dict[str, descriptor_pb2.DescriptorProto] = {}
    for full_name, fields in MESSAGES.items():
        outer, _, inner = full_name.partition(".")
        if inner:
            message = declared[outer].nested_type.add(name=inner)
            if inner == "AttrEntry":
                message.options.map_entry = True
        else:
            message = file_proto.message_type.add(name=outer)
            declared[outer] = message
        for name, number, ftype, label, type_name in fields:
            field = message.field.add(name=name, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return {name: GetMessageClass(pool.FindMessageTypeByName(f"tf.{name}")) for name in ("GraphDef", "TensorProto")}


CLASSES = _message_classes()


def fill_to(values: np.ndarray, count: int) -> np.ndarray:
    """TensorFlow's rule for short value lists: the last value repeats to fill the shape."""
    if len(values) > count:
        raise WeightsError(f"{len(values)} values for {count} elements")
    if len(values) == count:
        return values
    if not len(values):
        return np.zeros(count, values.dtype)
    return np.concatenate([values, np.full(count - len(values), values[-1], values.dtype)])


def tensor_array(tensor) -> np.ndarray | None:
    """A ``TensorProto`` as an array; None when it is not float32/float16."""
    dtype = TF_FLOAT_TYPES.get(tensor.dtype)
    if dtype is None:
        return None
    shape = [dim.size for dim in tensor.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise WeightsError("a constant with an unknown dimension")
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise WeightsError(f"a constant of shape {shape} is implausibly large")
    if tensor.tensor_content:
        if len(tensor.tensor_content) != count * dtype.itemsize:
            raise WeightsError(f"a constant of shape {shape} holds {len(tensor.tensor_content)} bytes")
        flat = np.frombuffer(tensor.tensor_content, dtype.newbyteorder("<"))
    elif dtype == np.float16:  # half_val: fp16 bit patterns stored as int32
        flat = fill_to((np.array(tensor.half_val, np.int64) & 0xFFFF).astype(np.uint16).view(np.float16), count)
    else:
        flat = fill_to(np.array(tensor.float_val, np.float32), count)
    return np.array(flat, dtype).reshape(shape)


def read_graphdef_constants(data: bytes) -> dict[str, np.ndarray]:
    """Every float ``Const`` node's ``value`` of a frozen ``GraphDef``, by node name."""
    try:
        graph = CLASSES["GraphDef"].FromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:  # RuntimeError: the C++ parser's recursion guard
        raise WeightsError(f"not a readable TensorFlow GraphDef (.pb): {exc or type(exc).__name__}") from exc
    constants: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op != "Const" or not node.name or "value" not in node.attr or not node.attr["value"].HasField("tensor"):
            continue
        try:
            array = tensor_array(node.attr["value"].tensor)
        except WeightsError as exc:
            raise WeightsError(f"not a readable TensorFlow GraphDef (.pb): {node.name}: {exc}") from exc
        if array is not None:
            constants[node.name] = array
    return constants
