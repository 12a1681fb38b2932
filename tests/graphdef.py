"""Write TensorFlow ``GraphDef`` files with protobuf's own encoder, for importer tests.

The message types are declared here with TensorFlow's real field numbers, so the
bytes are exactly what TensorFlow would write, without installing TensorFlow.
"""

from __future__ import annotations

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool

try:
    from google.protobuf.message_factory import GetMessageClass
except ImportError:  # protobuf < 4.21
    from google.protobuf.message_factory import MessageFactory

    def GetMessageClass(descriptor):  # noqa: N802 - mirrors protobuf's name
        return MessageFactory().GetPrototype(descriptor)


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


def _build_classes() -> dict[str, type]:
    file_proto = descriptor_pb2.FileDescriptorProto(name="livetoon_test_graph.proto", package="tf", syntax="proto3")
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


CLASSES = _build_classes()
DT_FLOAT, DT_HALF = 1, 19


def tensor_proto(array: np.ndarray, encoding: str = "content"):
    """A TensorProto as TF writes it: raw ``tensor_content``, ``float_val`` or ``half_val``."""
    proto = CLASSES["TensorProto"](dtype=DT_HALF if array.dtype == np.float16 else DT_FLOAT)
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if encoding == "content":
        proto.tensor_content = array.astype(array.dtype.newbyteorder("<")).tobytes()
    elif encoding == "half_val":
        proto.half_val.extend(array.astype(np.float16).view(np.uint16).ravel().tolist())
    else:
        values = array.ravel()
        proto.float_val.extend([float(values[0])] if encoding == "splat" else values.tolist())
    return proto


def graphdef_bytes(constants: dict[str, tuple[np.ndarray, str]], extra_ops: int = 3) -> bytes:
    """Serialize Const nodes (name -> (array, encoding)) plus some non-Const nodes."""
    graph = CLASSES["GraphDef"]()
    placeholder = graph.node.add(name="input_image", op="Placeholder")
    placeholder.attr["dtype"].s = b"float"
    for name, (array, encoding) in constants.items():
        node = graph.node.add(name=name, op="Const")
        node.attr["value"].tensor.CopyFrom(tensor_proto(array, encoding))
    for i in range(extra_ops):
        graph.node.add(name=f"generator/op_{i}", op="Conv2D", input=["input_image"])
    return graph.SerializeToString()
