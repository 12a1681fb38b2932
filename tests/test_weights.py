"""Importers (.pb GraphDef, .tflite) and our .safetensors style format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dctnet.network import TTN
from dctnet.weights import (
    WeightsError,
    import_model_file,
    load_style,
    official_state_dict,
    read_graphdef_constants,
    read_tflite_tensors,
    save_style,
)
from tests.conftest import REFERENCE_DIR, needs_reference
from tests.graphdef import graphdef_bytes

STYLES = ("3d", "anime", "artstyle", "design", "handdrawn", "illustration", "sketch")


def official_pb_constants(seed: int = 0, channels: int = 32) -> dict[str, np.ndarray]:
    """A full generator's constants under the official names, weights in HWIO."""
    rng = np.random.default_rng(seed)
    constants = {}
    for key, tensor in TTN(channels).state_dict().items():
        layer, kind = key.rsplit(".", 1)
        name = "generator/" + layer.replace(".", "/")
        if kind == "weight":
            constants[f"{name}/weights"] = rng.standard_normal(tuple(tensor.permute(2, 3, 1, 0).shape)).astype(np.float32)
        else:
            constants[f"{name}/biases"] = rng.standard_normal(tuple(tensor.shape)).astype(np.float32)
    return constants


def test_graphdef_reader_is_bit_exact():
    constants = official_pb_constants()
    encodings = {name: ("float_val" if i % 5 == 1 else "content") for i, name in enumerate(constants)}
    constants["generator/Conv_9/biases"] = np.full(3, 0.25, np.float32)
    encodings["generator/Conv_9/biases"] = "splat"  # TF stores a constant fill as one value
    constants["guide/eps"] = np.array([0.01, 0.02], np.float16)
    encodings["guide/eps"] = "half_val"
    data = graphdef_bytes({n: (a, encodings[n]) for n, a in constants.items()})

    read = read_graphdef_constants(data)
    assert set(read) == set(constants)
    for name, array in constants.items():
        assert read[name].dtype == array.dtype and read[name].shape == array.shape, name
        assert np.array_equal(read[name], array), name

    state = official_state_dict(read, "pb")
    model = TTN()
    model.load_state_dict(state)
    hwio = constants["generator/block_2/conv1/weights"]
    assert torch.equal(model.block_2.conv1.weight, torch.from_numpy(hwio.transpose(3, 2, 0, 1).copy()))


def test_pb_file_import_reports_hash(tmp_path):
    path = tmp_path / "cartoon_h.pb"
    path.write_bytes(graphdef_bytes({n: (a, "content") for n, a in official_pb_constants(1, 16).items()}))
    state, sha = import_model_file(path)
    assert state["Conv.weight"].shape == (16, 3, 7, 7)
    import hashlib

    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


@needs_reference
@pytest.mark.parametrize("style", STYLES)
def test_tflite_reader_matches_litert(style):
    from ai_edge_litert.interpreter import Interpreter

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
                assert ours[name].dtype == reference.dtype and np.array_equal(ours[name], reference), name
                compared += 1
        assert compared == 36, f"{style}/{part}: compared {compared} generator tensors, expected 36"
        official_state_dict(ours, "tflite")  # validates names and shapes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_style_roundtrip(tmp_path, dtype):
    head = {k: v.to(dtype) for k, v in TTN(16).state_dict().items()}
    bg = {k: torch.randn_like(v).to(dtype) for k, v in TTN(32).state_dict().items()}
    path = tmp_path / "mine.safetensors"
    save_style(path, head, bg, {"name": "mine", "origin": "test"})
    head2, bg2, meta = load_style(path)
    assert meta["name"] == "mine" and meta["origin"] == "test"
    for original, loaded in ((head, head2), (bg, bg2)):
        assert set(original) == set(loaded)
        for k in original:
            assert loaded[k].dtype == torch.float32
            assert torch.equal(loaded[k], original[k].float()), k
    assert [p.name for p in tmp_path.iterdir()] == ["mine.safetensors"], "no temporary files left"


def _valid_style_bytes(tmp_path) -> bytes:
    path = tmp_path / "ok.safetensors"
    sd = TTN(8).state_dict()
    save_style(path, sd, sd, {"name": "ok"})
    return path.read_bytes()


@pytest.mark.parametrize("case", ["empty", "text", "truncated", "missing_tensor", "wrong_shape", "foreign"])
def test_bad_style_files_raise_weights_error(tmp_path, case):
    import safetensors.torch

    path = tmp_path / f"{case}.safetensors"
    sd = TTN(8).state_dict()
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is not a model\n")
    elif case == "truncated":
        path.write_bytes(_valid_style_bytes(tmp_path)[:5000])
    elif case == "missing_tensor":
        save_style(path, {k: v for k, v in sd.items() if k != "Conv_4.bias"}, sd, {})
    elif case == "wrong_shape":
        save_style(path, {**sd, "Conv_4.bias": torch.zeros(3)}, sd, {})
    elif case == "foreign":
        safetensors.torch.save_file({f"head/{k}": v for k, v in sd.items()}, str(path))
    with pytest.raises(WeightsError) as info:
        load_style(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("case", ["empty", "random_pb", "truncated_tflite", "not_dctnet_pb"])
def test_bad_model_files_raise_weights_error(tmp_path, case):
    path = tmp_path / ("model.tflite" if "tflite" in case else "model.pb")
    if case == "empty":
        path.write_bytes(b"")
    elif case == "random_pb":
        path.write_bytes(np.random.default_rng(3).bytes(4096))
    elif case == "truncated_tflite":
        if not REFERENCE_DIR.is_dir():
            pytest.skip("../shared/dctnet-reference is absent: no TFLite file to truncate")
        data = (REFERENCE_DIR / "anime" / "head.tflite").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "not_dctnet_pb":
        path.write_bytes(graphdef_bytes({"some/other/weights": (np.ones((3, 3), np.float32), "content")}))
    with pytest.raises(WeightsError) as info:
        import_model_file(path)
    assert str(path) in str(info.value)
