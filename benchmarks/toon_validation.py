"""Student vs teacher PSNR of the built-in styles on the held-out photos.

    python -m benchmarks.toon_validation [--styles toon,toon-lite] [--photo-dir DIR]

Each part is judged on what it sees at inference: the bg model on whole held-out
photos (shrunk to video size), the head model on their aligned face crops. None of
these photos was trained on (see dctnet/train_photos.py); the downloadable ones are
fetched once and verified by SHA-256, or read from ``--photo-dir``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from dctnet.network import TTN
from dctnet.styles import StyleRegistry
from dctnet.train import validate, validation_set
from dctnet.train_photos import load_photos


def part_model(state: dict[str, torch.Tensor]) -> TTN:
    model = TTN(state["Conv.weight"].shape[0])
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--styles", default="toon,toon-lite")
    parser.add_argument("--photo-dir", type=Path)
    args = parser.parse_args()
    held_out = load_photos(True, photo_dir=args.photo_dir)
    images = {part: validation_set(part, held_out) for part in ("bg", "head")}
    registry = StyleRegistry()
    cpu = torch.device("cpu")
    print("| style | part | held-out image | PSNR (dB) |\n| --- | --- | --- | --- |")
    for name in args.styles.split(","):
        head, bg, _ = registry.get(name).load()
        for part, state in (("bg", bg), ("head", head)):
            scores = validate(part_model(state), images[part], cpu, frames=part == "bg")
            for image, score in scores.items():
                print(f"| {name} | {part} | {image} | {score:.2f} |")
            values = list(scores.values())
            print(f"| {name} | {part} | **mean / lowest** | **{np.mean(values):.2f} / {min(values):.2f}** |")


if __name__ == "__main__":
    main()
