"""Train a DCT-Net generator to imitate the procedural toon renderer.

    python -m dctnet.train --out weights/toon.safetensors --name toon --channels 32 --minutes 35

The student is the real TTN (generator + in-graph guided filter), so a trained style
runs through exactly the inference path of the official styles. Training data is
scikit-image's bundled photos (open licences, see weights/MODEL_CARD.md) with heavy
augmentation, plus aligned face crops made exactly as at inference. ``coffee`` is
held out for validation. Checkpoints are safetensors plus a
JSON side file (no pickles), written atomically; ``--resume`` continues one.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F

from .align import align_face
from .device import choose_device
from .face import FaceDetector
from .fileio import atomic_write_bytes
from .network import TTN, to_uint8
from .toon_teacher import render_toon
from .weights import save_style

TRAIN_IMAGES = ("astronaut.png", "chelsea.png", "rocket.jpg")
"""NASA (public domain), Stefan van der Walt (CC0), SpaceX (public domain)."""
VALIDATION_IMAGES = ("coffee.png",)
"""Rachel Michetti (CC0); never trained on."""
CROP = 128
MARGIN = 16
"""Context around each crop so the teacher's and student's borders do not enter the loss."""


def load_photo(name: str) -> np.ndarray:
    """A photo bundled with scikit-image (a training-only dependency), as BGR."""
    from skimage import data

    image = cv2.imread(str(Path(data.__file__).parent / name), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"scikit-image does not bundle {name}")
    return image


def face_crops(photos: list[np.ndarray]) -> list[np.ndarray]:
    """288x288 aligned faces, as the head model sees them at inference."""
    crops = []
    with FaceDetector(static_image_mode=True) as detector:
        for photo in photos:
            crops += [align_face(photo, face.points)[0] for face in detector.detect(photo)]
    return crops


@dataclass
class Augmenter:
    rng: np.random.Generator

    def sample(self, image: np.ndarray, size: int) -> np.ndarray:
        """A random size x size view: scale, rotation, flip, colour, noise, blur."""
        h, w = image.shape[:2]
        scale = self.rng.uniform(0.5, 1.4) * max(size / min(h, w), 1.0) if min(h, w) < 2 * size else self.rng.uniform(0.4, 1.3)
        angle = self.rng.uniform(-12, 12)
        cx, cy = self.rng.uniform(0, w), self.rng.uniform(0, h)
        matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        matrix[:, 2] += (size / 2 - cx, size / 2 - cy)
        view = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if self.rng.random() < 0.5:
            view = view[:, ::-1]
        view = view.astype(np.float32)
        gain = self.rng.uniform(0.85, 1.15, 3) * self.rng.uniform(0.75, 1.25)
        view = (view - view.mean()) * self.rng.uniform(0.8, 1.2) + view.mean()
        view = view * gain
        if self.rng.random() < 0.3:
            view = cv2.GaussianBlur(view, (0, 0), self.rng.uniform(0.3, 1.2))
        view = view + self.rng.normal(0, self.rng.uniform(0, 4), view.shape)
        return np.clip(view, 0, 255).astype(np.float32)


def sobel_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between image gradients at two scales: keeps outlines crisp, not just colours."""
    kernel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=a.device)
    kernels = torch.stack([kernel, kernel.T]).unsqueeze(1).repeat(3, 1, 1, 1)
    loss = a.new_zeros(())
    for level in range(2):
        if level:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        ga, gb = (F.conv2d(t, kernels, groups=3) for t in (a, b))
        loss = loss + (ga - gb).abs().mean()
    return loss


def psnr_uint8(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.float() - b.float()).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


@torch.no_grad()
def validate(model: TTN, images: list[np.ndarray], device: torch.device) -> float:
    """Mean PSNR (dB) of student vs teacher, uint8, on whole held-out photos."""
    model.eval()
    scores = []
    for image in images:
        h, w = image.shape[:2]
        padded = cv2.copyMakeBorder(image, 0, -h % 4, 0, -w % 4, cv2.BORDER_REPLICATE)
        x = torch.from_numpy(padded).permute(2, 0, 1)[None].float().to(device)
        student = to_uint8(model(x))[..., :h, :w]
        teacher = render_toon(x)[..., :h, :w].to(torch.uint8)
        scores.append(psnr_uint8(student, teacher))
    model.train()
    return float(np.mean(scores))


def save_checkpoint(path: Path, model: TTN, optimizer: torch.optim.Optimizer, info: dict) -> None:
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    names = dict(enumerate(model.state_dict()))
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"adam/{names[index]}/{key}"] = value.detach().cpu().reshape(-1).contiguous() if key == "step" else value.detach().cpu().contiguous()
    atomic_write_bytes(path, safetensors.torch.save(tensors))
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(info, indent=1).encode())


def load_checkpoint(path: Path, model: TTN, optimizer: torch.optim.Optimizer) -> dict:
    tensors = safetensors.torch.load_file(str(path))
    model.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
    state = optimizer.state_dict()
    for index, name in enumerate(model.state_dict()):
        entry = {key: tensors[f"adam/{name}/{key}"] for key in ("step", "exp_avg", "exp_avg_sq") if f"adam/{name}/{key}" in tensors}
        if entry:
            entry["step"] = entry["step"].reshape(())
            state["state"][index] = entry
    optimizer.load_state_dict(state)
    return json.loads(path.with_suffix(".json").read_text())


def train(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)  # the build machine is shared: leave the other cores free
    cv2.setNumThreads(args.threads)
    torch.manual_seed(args.seed)
    device = choose_device(args.device).device
    rng = np.random.default_rng(args.seed)
    photos = [load_photo(n) for n in TRAIN_IMAGES]
    faces = face_crops(photos)
    held_out = [load_photo(n) for n in VALIDATION_IMAGES]
    model = TTN(args.channels).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.5, 0.99))
    info = {"step": 0, "seconds": 0.0, "history": []}
    checkpoint = args.out.with_suffix(".ckpt.safetensors")
    if args.resume:
        info = load_checkpoint(args.resume, model, optimizer)
    augment = Augmenter(rng)
    budget = args.minutes * 60.0
    started = time.perf_counter() - info["seconds"]
    last_report = last_save = time.perf_counter()
    size = CROP + 2 * MARGIN
    while (elapsed := time.perf_counter() - started) < budget and info["step"] < args.max_steps:
        for group in optimizer.param_groups:  # cosine decay over the time budget
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * min(elapsed / budget, 1.0)))
        pool = [faces[i % len(faces)] if rng.random() < args.face_share else photos[rng.integers(len(photos))] for i in range(args.batch)]
        batch = torch.from_numpy(np.stack([augment.sample(p, size) for p in pool])).permute(0, 3, 1, 2).to(device)
        target = render_toon(batch)[..., MARGIN:-MARGIN, MARGIN:-MARGIN] / 127.5 - 1
        output = model(batch)[..., MARGIN:-MARGIN, MARGIN:-MARGIN]
        loss = (output - target).abs().mean() + args.edge_weight * sobel_l1(output, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        info["step"] += 1
        now = time.perf_counter()
        if now - last_report > args.report_seconds or info["step"] == 1:
            val = validate(model, held_out, device)
            info["history"].append({"step": info["step"], "seconds": round(elapsed), "loss": round(loss.item(), 5), "val_psnr": round(val, 2)})
            print(f"step {info['step']:6d}  loss {loss.item():.4f}  val PSNR {val:5.2f} dB  {elapsed / 60:5.1f} min", flush=True)
            last_report = now
        if now - last_save > args.checkpoint_seconds:
            info["seconds"] = time.perf_counter() - started
            save_checkpoint(checkpoint, model, optimizer, info)
            last_save = now
    info["seconds"] = time.perf_counter() - started
    info["val_psnr"] = round(validate(model, held_out, device), 2)
    save_checkpoint(checkpoint, model, optimizer, info)
    half = {k: v.detach().half() for k, v in model.state_dict().items()}
    metadata = {
        "name": args.name,
        "origin": "trained by LiveToon: dctnet.train, teacher dctnet.toon_teacher",
        "source_sha256": "{}",
        "head_channels": str(args.channels),
        "bg_channels": str(args.channels),
        "steps": str(info["step"]),
        "validation_psnr_db": str(info["val_psnr"]),
        "padding": "replicate",  # the teacher outlines a white pad's edge; see engine.PADDINGS
    }
    save_style(args.out, half, half, metadata)
    print(f"wrote {args.out}: {info['step']} steps, {info['seconds'] / 60:.1f} min, val PSNR {info['val_psnr']} dB")
    return info


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dctnet.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="style file to write (.safetensors)")
    parser.add_argument("--name", default="toon")
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=35.0, help="wall-clock training budget")
    parser.add_argument("--max-steps", type=int, default=10**9)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--edge-weight", type=float, default=0.5)
    parser.add_argument("--face-share", type=float, default=0.35, help="fraction of crops taken from aligned faces")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch and OpenCV")
    parser.add_argument("--resume", type=Path)
    parser.add_argument("--report-seconds", type=float, default=120.0)
    parser.add_argument("--checkpoint-seconds", type=float, default=300.0)
    return parser


if __name__ == "__main__":
    train(build_parser().parse_args())
