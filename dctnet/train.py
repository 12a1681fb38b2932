"""Train a DCT-Net generator to imitate the procedural toon renderer.

    python -m dctnet.train --out weights/toon.safetensors --name toon --channels 32 --minutes 35

The student is the real TTN (generator + in-graph guided filter), so a trained style
runs through exactly the inference path of the official styles. Training data is
openly licensed photos (``train_photos``, see weights/MODEL_CARD.md) with heavy
augmentation, plus aligned face crops made exactly as at inference; held-out photos
validate. ``--part head`` specializes the head model on face crops and ``--part bg``
the bg model on whole frames; each replaces only its own part of an existing style
file. Checkpoints are safetensors plus a JSON side file (no pickles), written
atomically; ``--resume`` continues one. ``--init`` starts from a trained style's
weights with a fresh optimizer and schedule: how a style follows a changed teacher
without training from scratch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
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
from .frame_ops import pad_frame
from common.errors import LiveToonError
from faces.finder import FaceDetector, FaceFinder
from common.fileio import atomic_write_bytes
from .network import TTN, to_uint8
from common.progress import Progress
from .toon_teacher import render_toon
from .train_photos import SKIMAGE_ONLY, load_photos
from .weights import PARTS, load_style, save_style

PHOTO_SETS = {"all": None, "skimage": SKIMAGE_ONLY}
CROP = 128
MARGIN = 16
"""Context around each crop so the teacher's and student's borders do not enter the loss."""


def face_crops(photos: list[np.ndarray], finder: FaceFinder | None = None) -> list[np.ndarray]:
    """288x288 aligned faces, as the head model sees them at inference.

    ``finder`` defaults to MediaPipe; the GPU check passes faces found ahead of time,
    since its machine has no MediaPipe.
    """
    with contextlib.ExitStack() as stack:
        finder = finder or stack.enter_context(FaceDetector(static_image_mode=True))
        return [align_face(photo, face.points)[0] for photo in photos for face in finder.detect(photo)]


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
def validate(model: TTN, images: dict[str, np.ndarray], device: torch.device, frames: bool) -> dict[str, float]:
    """PSNR (dB) of student vs teacher, uint8, per held-out image.

    The student gets its input as the engine gives it: whole ``frames`` padded as the
    bg pass pads them, aligned face crops (288x288) as they are.
    """
    model.eval()
    scores = {}
    for name, image in images.items():
        h, w = image.shape[:2]
        padded, (top, left) = pad_frame(image, "context") if frames else (image, (0, 0))
        x = torch.from_numpy(padded).permute(2, 0, 1)[None].float().to(device)
        student = to_uint8(model(x))[..., top:top + h, left:left + w]
        teacher = render_toon(torch.from_numpy(image).permute(2, 0, 1)[None].float().to(device)).to(torch.uint8)
        scores[name] = round(psnr_uint8(student, teacher), 2)
    model.train()
    return scores


def mean_psnr(scores: dict[str, float]) -> float:
    return round(float(np.mean(list(scores.values()))), 2)


def validation_set(part: str, held_out: dict[str, np.ndarray], finder: FaceFinder | None = None) -> dict[str, np.ndarray]:
    """What a part sees at inference: aligned faces for the head, whole frames otherwise."""
    if part != "head":
        return held_out
    crops = {}
    for name, photo in held_out.items():
        for index, crop in enumerate(face_crops([photo], finder)):
            crops[f"{name} face {index}"] = crop
    if not crops:
        raise LiveToonError("no face in the held-out photos to validate the head model on: use --photos all")
    return crops


def write_style(args: argparse.Namespace, model: TTN, info: dict) -> None:
    """The trained part(s) into ``--out``; a single part keeps the file's other part."""
    half = {k: v.detach().half() for k, v in model.state_dict().items()}
    models = {"head": half, "bg": half}
    metadata = {
        "name": args.name,
        "origin": "trained by LiveToon: dctnet.train, teacher dctnet.toon_teacher",
        "source_sha256": "{}",
        "padding": "context",  # the student never learned image edges; see engine.PADDINGS
    }
    if args.part != "both" and args.out.is_file():
        head, bg, old = load_style(args.out)
        models = {"head": head, "bg": bg, args.part: half}
        models = {k: {n: t.half() for n, t in v.items()} for k, v in models.items()}
        other = "bg" if args.part == "head" else "head"
        metadata |= {k: v for k, v in old.items() if k.startswith(f"{other}_")}
    for part in PARTS if args.part == "both" else (args.part,):
        metadata[f"{part}_steps"] = str(info["step"])
        metadata[f"{part}_validation_psnr_db"] = json.dumps(info["val_scores"])
    save_style(args.out, models["head"], models["bg"], metadata)


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


def init_from_style(model: TTN, style: Path, part: str) -> None:
    """Load the part of ``style`` that is being trained (``both`` starts from its bg).

    A wider style is cut down to the model's width by keeping the first channels of
    every layer: skip connections and residual adds pair channel i with channel i, so
    that is a consistent sub-network, and a narrower student starts from a trained
    one instead of from noise.
    """
    head, bg, _ = load_style(style)
    state = head if part == "head" else bg
    target = model.state_dict()
    if any(state[k].shape[i] < n for k in target if k in state for i, n in enumerate(target[k].shape)):
        raise LiveToonError(f"{style} is narrower than a {model.channels}-channel generator (--channels)")
    try:
        model.load_state_dict({k: v[tuple(slice(0, n) for n in target[k].shape)] if k in target else v
                               for k, v in state.items()})
    except RuntimeError as exc:
        raise LiveToonError(f"{style} does not fit a {model.channels}-channel generator: "
                            f"{str(exc).splitlines()[0]}") from None


def checkpoint_path(out: Path, part: str) -> Path:
    """Beside the style but in a subfolder: the styles folder must only hold loadable styles."""
    return out.parent / "checkpoints" / (out.stem + ("" if part == "both" else f".{part}") + ".ckpt.safetensors")


def train(args: argparse.Namespace, finder: FaceFinder | None = None) -> dict:
    """Train per ``args``; ``finder`` finds the faces for head crops (MediaPipe by default)."""
    torch.set_num_threads(args.threads)  # the build machine is shared: leave the other cores free
    cv2.setNumThreads(args.threads)
    torch.manual_seed(args.seed)
    device = choose_device(args.device).device
    rng = np.random.default_rng(args.seed)
    names = PHOTO_SETS[args.photos]
    photos = list(load_photos(False, names, args.photo_dir).values())
    faces = face_crops(photos, finder)
    held_out = validation_set(args.part, load_photos(True, names, args.photo_dir), finder)
    face_share = 1.0 if args.part == "head" else args.face_share
    frames = args.part != "head"
    model = TTN(args.channels).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.5, 0.99))
    info = {"step": 0, "seconds": 0.0, "history": []}
    checkpoint = checkpoint_path(args.out, args.part)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if args.resume:
        info = load_checkpoint(args.resume, model, optimizer)
    elif args.init:
        init_from_style(model, args.init, args.part)
    augment = Augmenter(rng)
    budget = args.minutes * 60.0
    started = time.perf_counter() - info["seconds"]
    last_report = last_save = time.perf_counter()
    size = CROP + 2 * MARGIN
    progress = Progress("training", args.max_steps, unit="steps", log_seconds=None)  # validation lines are the log
    first_step, first_time = info["step"], time.perf_counter()
    while (elapsed := time.perf_counter() - started) < budget and info["step"] < args.max_steps:
        for group in optimizer.param_groups:  # cosine decay over the time budget
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * min(elapsed / budget, 1.0)))
        pool = [faces[rng.integers(len(faces))] if rng.random() < face_share else photos[rng.integers(len(photos))]
                for _ in range(args.batch)]
        batch = torch.from_numpy(np.stack([augment.sample(p, size) for p in pool])).permute(0, 3, 1, 2).to(device)
        target = render_toon(batch)[..., MARGIN:-MARGIN, MARGIN:-MARGIN] / 127.5 - 1
        output = model(batch)[..., MARGIN:-MARGIN, MARGIN:-MARGIN]
        loss = (output - target).abs().mean() + args.edge_weight * sobel_l1(output, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        info["step"] += 1
        now = time.perf_counter()
        done = max(elapsed / budget, info["step"] / args.max_steps)
        speed = (info["step"] - first_step) / max(now - first_time, 1e-9)
        steps_left = (args.max_steps - info["step"]) / max(speed, 1e-9)
        progress.update(info["step"], f"loss {loss.item():.4f}", min(budget - elapsed, steps_left), done)
        if now - last_report > args.report_seconds or info["step"] == 1:
            progress.clear()
            scores = validate(model, held_out, device, frames)
            val = mean_psnr(scores)
            info["history"].append({"step": info["step"], "seconds": round(elapsed), "loss": round(loss.item(), 5), "val_psnr": val})
            worst = min(scores, key=scores.get)
            print(f"step {info['step']:6d}  loss {loss.item():.4f}  val PSNR mean {val:5.2f} dB, lowest {scores[worst]:5.2f} "
                  f"({worst})  {elapsed / 60:5.1f} min", flush=True)
            last_report = now
        if now - last_save > args.checkpoint_seconds:
            info["seconds"] = time.perf_counter() - started
            save_checkpoint(checkpoint, model, optimizer, info)
            last_save = now
    progress.clear()
    info["seconds"] = time.perf_counter() - started
    info["val_scores"] = validate(model, held_out, device, frames)
    info["val_psnr"] = mean_psnr(info["val_scores"])
    save_checkpoint(checkpoint, model, optimizer, info)
    write_style(args, model, info)
    what = "both models" if args.part == "both" else f"the {args.part} model"
    print(f"wrote {what} of {args.out}: {info['step']} steps, "
          f"{info['seconds'] / 60:.1f} min, val PSNR mean {info['val_psnr']} dB {info['val_scores']}")
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
    parser.add_argument("--part", choices=("both", "head", "bg"), default="both",
                        help="train one generator for both parts, or specialize one part of --out")
    parser.add_argument("--photos", choices=tuple(PHOTO_SETS), default="all",
                        help="skimage: only the photos scikit-image bundles (the first version's data)")
    parser.add_argument("--photo-dir", type=Path, help="a folder holding the downloadable photos (offline machines)")
    parser.add_argument("--face-share", type=float, default=0.35, help="fraction of crops taken from aligned faces")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch and OpenCV")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--resume", type=Path, help="a checkpoint to continue (weights, optimizer, schedule)")
    start.add_argument("--init", type=Path, help="a style file whose weights to start from (fine-tuning)")
    parser.add_argument("--report-seconds", type=float, default=120.0)
    parser.add_argument("--checkpoint-seconds", type=float, default=300.0)
    return parser


def main() -> int:
    """Missing photos, an offline machine or a bad checkpoint: one line, not a traceback."""
    try:
        train(build_parser().parse_args())
    except LiveToonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
