"""``livetoon styles import``: each model file is read by what it holds, not by its name.

A folder's files are matched to head and bg by name; their content then decides the
format, so ``.safetensors`` generators import, a renamed file still imports, and a file
LiveToon cannot use is refused in one line that says what it is. The user-facing
refusals run through ``main.py`` in a subprocess to check the whole promise.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

from app.commands.cli import main
from dctnet.network import TTN
from dctnet.styles import StyleRegistry
from dctnet.train import save_checkpoint
from dctnet.model_import import import_model_file
from dctnet.weights import load_style, save_style
from tests.conftest import REPO_ROOT
from tests.graphdef import graphdef_bytes
from tests.test_cli_image import assert_clean_failure
from tests.test_weights import official_pb_constants


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """The user data folder, for StyleRegistry() here and for the subprocess."""
    monkeypatch.setenv("LIVETOON_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def generator(channels: int, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return TTN(channels).state_dict()


def folder_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "import-me"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def import_style(folder: Path, data_dir: Path) -> subprocess.CompletedProcess:
    env = {"LIVETOON_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "HOME": str(data_dir)}
    command = [sys.executable, str(REPO_ROOT / "main.py"), "styles", "import", str(folder), "--name", "mine"]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120)


def assert_no_styles(data_dir: Path) -> None:
    styles = data_dir / "styles"
    assert not styles.exists() or list(styles.iterdir()) == [], "nothing, not even a temporary file"


def test_safetensors_generators_import_as_a_style(tmp_path, data_dir):
    head, bg = generator(8, 1), generator(16, 2)
    head_half = {k: v.half() for k, v in head.items()}
    folder = folder_with(tmp_path, {
        "head.safetensors": safetensors.torch.save(head_half),
        "bg.safetensors": safetensors.torch.save(bg),
        "README.txt": b"not a model, and not in the way",
    })
    result = import_style(folder, data_dir)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "imported style 'mine'" in result.stdout

    got_head, got_bg, meta = load_style(data_dir / "styles" / "mine.safetensors")
    assert all(torch.equal(got_head[k], head_half[k].float()) for k in head) and got_head.keys() == head.keys()
    assert all(torch.equal(got_bg[k], bg[k]) for k in bg) and got_bg.keys() == bg.keys()
    assert (meta["head_channels"], meta["bg_channels"]) == ("8", "16")


def test_content_decides_not_the_extension(tmp_path, data_dir):
    head, bg = generator(8, 3), official_pb_constants(4, 8)
    graph = graphdef_bytes({name: (array, "content") for name, array in bg.items()})
    by_name = StyleRegistry().import_folder(
        folder_with(tmp_path / "a", {"head.safetensors": safetensors.torch.save(head), "bg.pb": graph}), name="by-name")
    renamed = StyleRegistry().import_folder(
        folder_with(tmp_path / "b", {"head.pb": safetensors.torch.save(head), "bg.tflite": graph}), name="renamed")
    for one, other in zip(by_name.load()[:2], renamed.load()[:2]):
        assert one.keys() == other.keys() and all(torch.equal(one[k], other[k]) for k in one)


def test_trainer_checkpoint_imports_its_weights_not_its_optimizer(tmp_path, data_dir):
    model = TTN(8)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(1, 3, 32, 32)).mean().backward()
    optimizer.step()
    folder = folder_with(tmp_path, {"bg.safetensors": safetensors.torch.save(generator(8, 5))})
    save_checkpoint(folder / "head.safetensors", model, optimizer, {"step": 1})

    head, _ = import_model_file(folder / "head.safetensors")
    assert head.keys() == model.state_dict().keys()
    assert all(torch.equal(head[k], v) for k, v in model.state_dict().items())
    assert main(["styles", "import", str(folder), "--name", "from-ckpt"]) == 0


def torch_zip(scratch: Path) -> bytes:
    """What ``torch.save`` writes: a zip holding a pickle (written here, never loaded)."""
    torch.save(generator(8, 9), scratch / "model.pt")
    return (scratch / "model.pt").read_bytes()


def whole_style(scratch: Path) -> bytes:
    save_style(scratch / "style.safetensors", generator(8, 6), generator(8, 7), {"name": "x"})
    return (scratch / "style.safetensors").read_bytes()


def without(state: dict[str, torch.Tensor], key: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k != key}


BAD_HEADS = {
    "whole style": (lambda scratch: {"head.safetensors": whole_style(scratch)},
                    "head.safetensors: a whole LiveToon style (head and bg in one file), not one model"),
    "wrong tensors": (lambda scratch: {"head.safetensors": safetensors.torch.save(without(generator(8, 8), "Conv_4.bias"))},
                      "head.safetensors: the safetensors file does not match a 8-channel DCT-Net generator: "
                      "missing 1 (Conv_4.bias)"),
    "torch zip": (lambda scratch: {"head.pb": torch_zip(scratch)},
                  "head.pb: this is a zip archive (PyTorch .pt/.pth checkpoints"),
}


@pytest.mark.parametrize("case", BAD_HEADS)
def test_cli_unusable_safetensors_or_foreign_file_is_one_line_saying_what_it_is(tmp_path, data_dir, case):
    files, message = BAD_HEADS[case]
    folder = folder_with(tmp_path, {**files(tmp_path), "bg.safetensors": safetensors.torch.save(generator(8, 10))})
    result = import_style(folder, data_dir)
    assert_clean_failure(result, message)
    assert "GraphDef" not in result.stderr, "no misleading guess at another format"
    assert_no_styles(data_dir)


@pytest.mark.parametrize("files, message", [
    ({"head.safetensors": b"\x00" * 64},
     "head.safetensors: not a .safetensors file (no safetensors header (8 bytes giving the length of a JSON header)), "
     "nor a TensorFlow GraphDef"),
    ({"head.safetensors": safetensors.torch.save({k: v.bfloat16() for k, v in generator(8, 11).items()})},
     "is torch.bfloat16, expected float16 or float32"),
    ({"head.safetensors": b"\x80\x04\x95 a pickle"}, "this is a Python pickle (LiveToon never unpickles model files"),
    ({"head.pth": b"PK\x03\x04", "notes.txt": b"x"},
     "no head model file(s) found; expected exactly one named like head.tflite / head.pb / head.safetensors / "
     "cartoon_h.pb (ignored, not .pb / .tflite / .safetensors: head.pth, notes.txt)"),
], ids=["no header", "bfloat16", "pickle", "pth is ignored"])
def test_unusable_head_files_are_refused_with_the_reason(tmp_path, data_dir, capsys, files, message):
    folder = folder_with(tmp_path, {**files, "bg.safetensors": safetensors.torch.save(generator(8, 12))})
    assert main(["styles", "import", str(folder), "--name", "mine"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("livetoon: error: ") and err.count("\n") == 1 and message in err, err
    assert_no_styles(data_dir)
