"""The toon teacher's look, the trainer's mechanics and the shipped built-in styles."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest
import torch

from dctnet.engine import Stylizer
from common.errors import LiveToonError
from dctnet.network import TTN
from dctnet.styles import FILTER_STYLE, StyleRegistry
from faces.finder import FaceDetector
from dctnet.toon_teacher import render_toon, skin_likelihood
from dctnet.train import build_parser, checkpoint_path, load_checkpoint, train, write_style
from dctnet.weights import load_style
from tests.looks import median_texture


def teacher(bgr: np.ndarray, skin_pass: bool = True) -> np.ndarray:
    out = render_toon(torch.from_numpy(bgr).permute(2, 0, 1)[None].float(), skin_pass)
    return out[0].permute(1, 2, 0).round().to(torch.uint8).numpy()


def test_teacher_flattens_colours_and_draws_outlines(astronaut_bgr):
    toon = teacher(astronaut_bgr)
    assert toon.shape == astronaut_bgr.shape and toon.dtype == np.uint8
    # Flat regions: far less local texture than the photo.
    assert median_texture(toon) < 0.6 * median_texture(astronaut_bgr)
    # Outlines: along the strongest edges of the photo the toon is darker than the photo.
    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(gray, 100, 200) > 0
    darker = cv2.cvtColor(toon, cv2.COLOR_BGR2GRAY).astype(int) < gray.astype(int) - 20
    assert darker[cv2.dilate(edges.astype(np.uint8), np.ones((3, 3))) > 0].mean() > 3 * darker.mean() * 0.5
    # Colours kept: the orange suit stays orange.
    assert np.abs(toon[350:450, 50:150].mean((0, 1)) - astronaut_bgr[350:450, 50:150].mean((0, 1))).max() < 40


def test_teacher_evens_skin_and_only_skin(astronaut_bgr):
    with FaceDetector(static_image_mode=True) as detector:
        x0, y0, x1, y1 = map(int, detector.detect(astronaut_bgr)[0].box)
    photo = torch.from_numpy(astronaut_bgr).permute(2, 0, 1)[None].float()
    skin = skin_likelihood(photo / 255)[0, 0].numpy()
    assert skin[y0:y1, x0:x1].mean() > 0.6, "the face is found by its colour"
    assert skin[350:450, 50:150].mean() < 0.1 and skin[:, 480:].mean() < 0.2, "the suit and the flag are not skin"
    on_face_skin = np.zeros(skin.shape, bool)
    on_face_skin[y0:y1, x0:x1] = skin[y0:y1, x0:x1] > 0.6

    def skin_gradient(skin_pass: bool) -> float:
        gray = cv2.cvtColor(teacher(astronaut_bgr, skin_pass), cv2.COLOR_BGR2GRAY).astype(np.float32)
        magnitude = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
        return float(np.median(magnitude[on_face_skin]))

    # Even tone: band edges and leftover texture on the face's skin drop by a third.
    assert skin_gradient(True) < 0.8 * skin_gradient(False)


def test_training_lowers_the_loss_and_resumes(tmp_path):
    out = tmp_path / "tiny.safetensors"
    args = build_parser().parse_args(
        ["--out", str(out), "--channels", "4", "--max-steps", "30", "--minutes", "5", "--batch", "2",
         "--lr", "2e-3", "--report-seconds", "1e9", "--device", "cpu", "--photos", "skimage"]
    )
    info = train(args)
    first_validation = info["history"][0]
    assert first_validation["step"] == 1
    assert info["step"] == 30 and info["val_psnr"] > first_validation["val_psnr"] + 1.0
    head, bg, meta = StyleRegistry(builtin=tmp_path, user=tmp_path / "none").get("tiny").load()
    assert head["Conv.weight"].shape == (4, 3, 7, 7) and meta["head_steps"] == meta["bg_steps"] == "30"
    resumed = argparse.Namespace(**{**vars(args), "resume": checkpoint_path(out, "both"), "max_steps": 35})
    assert train(resumed)["step"] == 35
    model = TTN(4)
    optimizer = torch.optim.Adam(model.parameters())
    assert load_checkpoint(checkpoint_path(out, "both"), model, optimizer)["step"] == 35
    assert optimizer.state_dict()["state"], "optimizer moments were restored"
    # Fine-tuning starts from the trained style, not from scratch.
    tuned = argparse.Namespace(**{**vars(args), "init": out, "max_steps": 1, "out": tmp_path / "tuned.safetensors"})
    assert train(tuned)["history"][0]["val_psnr"] > first_validation["val_psnr"] + 1.0
    with pytest.raises(LiveToonError, match="narrower than a 8-channel generator"):
        train(argparse.Namespace(**{**vars(tuned), "channels": 8}))
    # A narrower student starts from the first channels of every layer: a working
    # sub-network, better than noise.
    narrow = argparse.Namespace(**{**vars(tuned), "channels": 3, "out": tmp_path / "narrow.safetensors"})
    fresh = argparse.Namespace(**{**vars(narrow), "init": None})
    assert train(narrow)["history"][0]["val_psnr"] > train(fresh)["history"][0]["val_psnr"] + 1.0


@pytest.mark.parametrize("name,channels", [("toon", 32), ("toon-lite", 12)])
def test_builtin_styles_ship_and_load(name, channels):
    style = StyleRegistry().get(name)
    assert style.builtin
    head, bg, meta = style.load()
    assert head["Conv.weight"].shape[0] == channels and meta["origin"].startswith("trained by LiveToon")


def test_the_teacher_is_a_style_of_its_own(astronaut_bgr):
    registry = StyleRegistry()
    style = registry.get(FILTER_STYLE)
    assert style.builtin and style.path is None
    with pytest.raises(LiveToonError, match="built-in"):
        registry.remove(FILTER_STYLE)
    stylized = Stylizer.from_style(style, device="cpu", mode="background").stylize(astronaut_bgr)
    assert np.abs(stylized.astype(int) - teacher(astronaut_bgr)).max() <= 1


def test_specializing_one_part_keeps_the_other(tmp_path):
    out = tmp_path / "two.safetensors"
    args = build_parser().parse_args(["--out", str(out), "--channels", "4"])
    first, second = TTN(4), TTN(4)
    write_style(args, first, {"step": 7, "val_scores": {"coffee.png": 20.0}})
    head_args = argparse.Namespace(**{**vars(args), "part": "head"})
    write_style(head_args, second, {"step": 3, "val_scores": {"biden2.jpg face 0": 25.0}})
    head, bg, meta = load_style(out)
    for name, tensor in second.state_dict().items():
        assert torch.equal(head[name], tensor.half().float())
    for name, tensor in first.state_dict().items():
        assert torch.equal(bg[name], tensor.half().float())
    assert (meta["head_steps"], meta["bg_steps"]) == ("3", "7")
    assert json.loads(meta["bg_validation_psnr_db"]) == {"coffee.png": 20.0}


def test_head_training_needs_held_out_faces(tmp_path):
    args = ["--out", str(tmp_path / "h.safetensors"), "--part", "head", "--photos", "skimage", "--max-steps", "1"]
    with pytest.raises(LiveToonError, match="no face in the held-out photos"):
        train(build_parser().parse_args(args))
