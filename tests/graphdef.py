"""Write TensorFlow ``GraphDef`` files with protobuf's own encoder, for importer tests.

The message types are the importer's own (:mod:`dctnet.graphdef`, TensorFlow's real
field numbers), so the bytes are exactly what TensorFlow would write, without
installing TensorFlow.
"""

from __future__ import annotations

import numpy as np

from dctnet.graphdef import CLASSES

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
