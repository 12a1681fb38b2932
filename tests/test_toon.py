"""The toon teacher's look, the trainer's mechanics and the shipped built-in styles."""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pytest
import torch

from dctnet.styles import StyleRegistry
from dctnet.toon_teacher import render_toon
from dctnet.train import build_parser, load_checkpoint, train
from dctnet.network import TTN


def teacher(bgr: np.ndarray) -> np.ndarray:
    out = render_toon(torch.from_numpy(bgr).permute(2, 0, 1)[None].float())
    return out[0].permute(1, 2, 0).round().to(torch.uint8).numpy()


def test_teacher_flattens_colours_and_draws_outlines(astronaut_bgr):
    toon = teacher(astronaut_bgr)
    assert toon.shape == astronaut_bgr.shape and toon.dtype == np.uint8
    # Flat regions: far less local texture than the photo.
    def local_std(img):
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return np.sqrt(np.maximum(cv2.blur(gray * gray, (5, 5)) - cv2.blur(gray, (5, 5)) ** 2, 0))
    assert np.median(local_std(toon)) < 0.6 * np.median(local_std(astronaut_bgr))
    # Outlines: along the strongest edges of the photo the toon is darker than the photo.
    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(gray, 100, 200) > 0
    darker = cv2.cvtColor(toon, cv2.COLOR_BGR2GRAY).astype(int) < gray.astype(int) - 20
    assert darker[cv2.dilate(edges.astype(np.uint8), np.ones((3, 3))) > 0].mean() > 3 * darker.mean() * 0.5
    # Colours kept: the orange suit stays orange.
    assert np.abs(toon[350:450, 50:150].mean((0, 1)) - astronaut_bgr[350:450, 50:150].mean((0, 1))).max() < 40


def test_training_lowers_the_loss_and_resumes(tmp_path):
    out = tmp_path / "tiny.safetensors"
    args = build_parser().parse_args(
        ["--out", str(out), "--channels", "4", "--max-steps", "30", "--minutes", "5", "--batch", "2",
         "--lr", "2e-3", "--report-seconds", "1e9", "--device", "cpu"]
    )
    info = train(args)
    first_validation = info["history"][0]
    assert first_validation["step"] == 1
    assert info["step"] == 30 and info["val_psnr"] > first_validation["val_psnr"] + 1.0
    head, bg, meta = StyleRegistry(builtin=tmp_path, user=tmp_path / "none").get("tiny").load()
    assert head["Conv.weight"].shape == (4, 3, 7, 7) and meta["steps"] == "30"
    resumed = argparse.Namespace(**{**vars(args), "resume": out.with_suffix(".ckpt.safetensors"), "max_steps": 35})
    assert train(resumed)["step"] == 35
    model = TTN(4)
    optimizer = torch.optim.Adam(model.parameters())
    assert load_checkpoint(out.with_suffix(".ckpt.safetensors"), model, optimizer)["step"] == 35
    assert optimizer.state_dict()["state"], "optimizer moments were restored"


@pytest.mark.parametrize("name,channels", [("toon", 32), ("toon-lite", 16)])
def test_builtin_styles_ship_and_load(name, channels):
    style = StyleRegistry().get(name)
    assert style.builtin
    head, bg, meta = style.load()
    assert head["Conv.weight"].shape[0] == channels and meta["origin"].startswith("trained by LiveToon")
