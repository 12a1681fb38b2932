"""Importers (.pb GraphDef, .tflite) and our .safetensors style format."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import safetensors.torch
import torch

from common.errors import LiveToonError
from dctnet.network import TTN
from common.errors import WeightsError
from dctnet.graphdef import read_graphdef_constants
from dctnet.model_import import import_model_file
from dctnet.network import official_state_dict
from dctnet.tflite import read_tflite_tensors
from dctnet.weights import STYLE_FORMAT, load_style, save_style
from tests.conftest import REFERENCE_DIR, import_or_skip_unless_ci, needs_reference
from tests.graphdef import CLASSES, graphdef_bytes

STYLES = ("3d", "anime", "artstyle", "design", "handdrawn", "illustration", "sketch")


def official_pb_constants(seed: int = 0, channels: int = 32) -> dict[str, np.ndarray]:
    """A full generator's constants under the official names, weights in HWIO."""
    rng = np.random.default_rng(seed)
    constants = {}
    for key, tensor in TTN(channels).state_dict().items():
        layer, kind = key.rsplit(".", 1)
        name = "generator/" + layer.replace(".", "/")
        if kind == "weight":
            hwio_shape = tuple(tensor.permute(2, 3, 1, 0).shape)
            constants[f"{name}/weights"] = rng.standard_normal(hwio_shape).astype(np.float32)
        else:
            constants[f"{name}/biases"] = rng.standard_normal(tuple(tensor.shape)).astype(np.float32)
    return constants


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def length_field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def const_node_bytes(name: str, tensor: bytes) -> bytes:
    """A GraphDef holding one Const node, encoded by hand (for encodings protobuf won't emit)."""
    attr = length_field(1, b"value") + length_field(2, length_field(8, tensor))
    return length_field(1, length_field(1, name.encode()) + length_field(2, b"Const") + length_field(5, attr))


def test_graphdef_reader_is_bit_exact():
    constants = official_pb_constants()
    encodings = {name: ("float_val" if i % 5 == 1 else "content") for i, name in enumerate(constants)}
    constants["generator/Conv_9/biases"] = np.full(3, 0.25, np.float32)
    encodings["generator/Conv_9/biases"] = "splat"  # TF stores a constant fill as one value
    constants["guide/eps"] = np.array([0.01, 0.02], np.float16)
    encodings["guide/eps"] = "half_val"
    data = graphdef_bytes({n: (a, encodings[n]) for n, a in constants.items()})
    assert len(CLASSES["GraphDef"].FromString(data).node) == len(constants) + 4  # plus non-Const nodes

    read = read_graphdef_constants(data)
    assert set(read) == set(constants)
    for name, array in constants.items():
        assert read[name].dtype == array.dtype and read[name].shape == array.shape, name
        assert np.array_equal(read[name].view(np.uint8), array.view(np.uint8)), name

    state = official_state_dict(read, "pb")
    model = TTN()
    model.load_state_dict(state)
    hwio = constants["generator/block_2/conv1/weights"]
    assert torch.equal(model.block_2.conv1.weight, torch.from_numpy(hwio.transpose(3, 2, 0, 1).copy()))
    assert all(t.dtype == torch.float32 and t.is_contiguous() for t in state.values())


def test_graphdef_unpacked_float_val_and_non_float_constants():
    values = np.array([1.5, -2.0, 3.25, np.float32(1e-8)], np.float32)
    shape = CLASSES["TensorProto"](dtype=1)
    shape.tensor_shape.dim.add(size=2)
    shape.tensor_shape.dim.add(size=2)
    unpacked = shape.SerializeToString() + b"".join(b"\x2d" + v.tobytes() for v in values)  # field 5, wire I32
    short = shape.SerializeToString() + b"\x2d" + values[:2].tobytes()[:4] + b"\x2d" + values[1:2].tobytes()
    int32 = CLASSES["TensorProto"](dtype=3, tensor_content=np.arange(4, dtype="<i4").tobytes()).SerializeToString()
    data = const_node_bytes("unpacked", unpacked) + const_node_bytes("short", short) + const_node_bytes("ints", int32)
    parsed = CLASSES["GraphDef"].FromString(data)  # protobuf itself accepts the hand encoding
    assert list(parsed.node[0].attr["value"].tensor.float_val) == values.tolist()

    read = read_graphdef_constants(data)
    assert set(read) == {"unpacked", "short"}, "the int32 constant is skipped"
    assert np.array_equal(read["unpacked"], values.reshape(2, 2))
    assert np.array_equal(read["short"], np.array([[1.5, -2.0], [-2.0, -2.0]], np.float32)), "TF repeats the last value"


def test_pb_file_import_reports_hash(tmp_path):
    path = tmp_path / "cartoon_h.pb"
    path.write_bytes(graphdef_bytes({n: (a, "content") for n, a in official_pb_constants(1, 16).items()}))
    state, sha = import_model_file(path)
    assert state["Conv.weight"].shape == (16, 3, 7, 7)
    TTN(16).load_state_dict(state)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


@needs_reference
@pytest.mark.parametrize("style", STYLES)
def test_tflite_reader_matches_litert(style):
    Interpreter = import_or_skip_unless_ci("ai_edge_litert.interpreter", "LiteRT is not installed (the numpy-2 GPU-image venv)").Interpreter

    for part in ("head", "bg"):
        path = REFERENCE_DIR / style / f"{part}.tflite"
        ours = read_tflite_tensors(path.read_bytes())
        interpreter = Interpreter(str(path))
        interpreter.allocate_tensors()
        compared = 0
        for detail in interpreter.get_tensor_details():
            name = detail["name"]
            if name.startswith("generator/") and detail["dtype"] == np.float16:
                reference = interpreter.get_tensor(detail["index"])
                assert ours[name].dtype == reference.dtype and ours[name].shape == reference.shape, name
                assert np.array_equal(ours[name].view(np.uint16), reference.view(np.uint16)), name
                compared += 1
        assert compared == 36, f"{style}/{part}: compared {compared} generator tensors, expected 36"
        state = official_state_dict(ours, "tflite")
        ohwi = ours["generator/Conv_4/Conv2D"]
        assert torch.equal(state["Conv_4.weight"], torch.from_numpy(ohwi.transpose(0, 3, 1, 2).astype(np.float32)))


def test_tflite_mapping_takes_the_exact_conv2d_names():
    state = {k: v.numpy() for k, v in TTN(4).state_dict().items()}
    tensors = {}
    for key, array in state.items():
        layer, kind = key.rsplit(".", 1)
        name = "generator/" + layer.replace(".", "/")
        if kind == "weight":
            tensors[f"{name}/Conv2D"] = array.transpose(0, 2, 3, 1).astype(np.float16)
            tensors[f"{name}/Conv2D1"] = np.zeros_like(array.transpose(0, 2, 3, 1))  # the dequantized twin
        else:
            tensors[f"{name}/biases"] = array.astype(np.float16)
    mapped = official_state_dict(tensors, "tflite")
    for key, array in state.items():
        assert torch.equal(mapped[key], torch.from_numpy(array.astype(np.float16).astype(np.float32))), key


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_style_roundtrip(tmp_path, dtype):
    head = {k: v.to(dtype) for k, v in TTN(16).state_dict().items()}
    bg = {k: torch.randn_like(v).to(dtype) for k, v in TTN(32).state_dict().items()}
    path = tmp_path / "mine.safetensors"
    sources = json.dumps({"cartoon_h.pb": "ab" * 32})
    save_style(path, head, bg, {"name": "mine", "origin": "trained by LiveToon", "source_sha256": sources})
    with safetensors.safe_open(str(path), framework="pt") as fh:
        assert fh.get_tensor("head/Conv.weight").dtype == dtype, "stored as given"
    head2, bg2, meta = load_style(path)
    assert meta == {"name": "mine", "origin": "trained by LiveToon", "source_sha256": sources,
                    "format": STYLE_FORMAT, "head_channels": "16", "bg_channels": "32"}
    for original, loaded in ((head, head2), (bg, bg2)):
        assert set(original) == set(loaded)
        for k in original:
            assert loaded[k].dtype == torch.float32
            assert torch.equal(loaded[k], original[k].float()), k
    assert [p.name for p in tmp_path.iterdir()] == ["mine.safetensors"], "no temporary files left"


def test_failed_save_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "mine.safetensors"
    sd = TTN(4).state_dict()
    save_style(path, sd, sd, {"name": "old"})
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("common.fileio.os.fsync", broken_fsync)
    with pytest.raises(LiveToonError, match="No space left"):
        save_style(path, sd, sd, {"name": "new"})
    assert [p.name for p in tmp_path.iterdir()] == ["mine.safetensors"]
    assert path.read_bytes() == before


def test_save_refuses_what_could_not_load(tmp_path):
    sd = TTN(4).state_dict()
    with pytest.raises(WeightsError, match="Conv_4.bias"):
        save_style(tmp_path / "x.safetensors", {k: v for k, v in sd.items() if k != "Conv_4.bias"}, sd, {})
    with pytest.raises(TypeError):
        save_style(tmp_path / "x.safetensors", sd, sd, {"source_sha256": {"a.pb": "00"}})
    assert not list(tmp_path.iterdir())


def write_raw_style(path, head: dict, bg: dict, metadata: dict | None = None, extra: dict | None = None) -> None:
    """A style written by safetensors directly, bypassing save_style's checks."""
    tensors = {f"{part}/{k}": v.clone() for part, sd in (("head", head), ("bg", bg)) for k, v in sd.items()}
    safetensors.torch.save_file({**tensors, **(extra or {})}, str(path), metadata=metadata or {"format": STYLE_FORMAT})


BAD_STYLES = ["missing", "empty", "text", "truncated", "missing_tensor", "wrong_shape", "wrong_dtype",
              "stray_tensor", "no_format", "channels_lie"]


@pytest.mark.parametrize("case", BAD_STYLES)
def test_bad_style_files_raise_weights_error(tmp_path, case):
    path = tmp_path / f"{case}.safetensors"
    sd = TTN(8).state_dict()
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is not a model\n")
    elif case == "truncated":
        save_style(path, sd, sd, {"name": "ok"})
        path.write_bytes(path.read_bytes()[:5000])
    elif case == "missing_tensor":
        write_raw_style(path, {k: v for k, v in sd.items() if k != "Conv_4.bias"}, sd)
    elif case == "wrong_shape":
        write_raw_style(path, sd, {**sd, "Conv_4.bias": torch.zeros(3)})
    elif case == "wrong_dtype":
        write_raw_style(path, {**sd, "Conv_4.bias": sd["Conv_4.bias"].to(torch.int32)}, sd)
    elif case == "stray_tensor":
        write_raw_style(path, sd, sd, extra={"extra": torch.zeros(1)})
    elif case == "no_format":
        write_raw_style(path, sd, sd, {"name": "foreign"})
    elif case == "channels_lie":
        write_raw_style(path, sd, sd, {"format": STYLE_FORMAT, "head_channels": "32"})
    with pytest.raises(WeightsError) as info:
        load_style(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    expected_words = {
        "missing": "no such file", "empty": "empty", "text": "not a safetensors", "truncated": "not a safetensors",
        "missing_tensor": "Conv_4.bias", "wrong_shape": "(3,)", "wrong_dtype": "int32", "stray_tensor": "extra",
        "no_format": "not a LiveToon style", "channels_lie": "head_channels",
    }
    assert expected_words[case] in message


@pytest.mark.parametrize("case", ["missing", "empty", "random_pb", "not_dctnet_pb", "wrong_shape_pb", "random_tflite"])
def test_bad_model_files_raise_weights_error(tmp_path, case):
    path = tmp_path / ("model.tflite" if "tflite" in case else "model.pb")
    rng = np.random.default_rng(3)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "random_pb":
        path.write_bytes(rng.bytes(4096))
    elif case == "not_dctnet_pb":
        path.write_bytes(graphdef_bytes({"some/other/weights": (np.ones((3, 3), np.float32), "content")}))
    elif case == "wrong_shape_pb":
        constants = official_pb_constants(2, 8)
        constants["generator/Conv_5/weights"] = constants["generator/Conv_5/weights"][:, :, :, :3]
        path.write_bytes(graphdef_bytes({n: (a, "content") for n, a in constants.items()}))
    elif case == "random_tflite":
        path.write_bytes(rng.bytes(4) + b"TFL3" + rng.bytes(8192))
    with pytest.raises(WeightsError) as info:
        import_model_file(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    if case == "wrong_shape_pb":
        assert "Conv_5.weight" in message and "(16, 32, 3, 3)" in message


@needs_reference
def test_truncated_tflite_raises_weights_error(tmp_path):
    data = (REFERENCE_DIR / "anime" / "head.tflite").read_bytes()
    path = tmp_path / "head.tflite"
    for cut in [len(data) // 2, 8, 64, 1000, 100_000, 1_000_000, -4096]:  # the last bytes hold nothing we read
        path.write_bytes(data[:cut])
        with pytest.raises(WeightsError, match="head.tflite"):
            import_model_file(path)


def test_readers_raise_weights_error_themselves():
    with pytest.raises(WeightsError, match="GraphDef"):
        read_graphdef_constants(b"\x0a\xff\xff\xff\xff\x0f")  # a node longer than the data
    with pytest.raises(WeightsError, match="TFL3"):
        read_tflite_tensors(b"\x00" * 64)
    with pytest.raises(WeightsError, match="TFLite"):
        read_tflite_tensors(b"\xf0\xff\xff\x7fTFL3" + b"\x00" * 16)  # root offset outside the file
    with pytest.raises(WeightsError, match="no DCT-Net generator"):
        official_state_dict({}, "pb")
