"""CPU engine before/after against LiteRT, one side-by-side run: ``python -m benchmarks.cpu_engine``.

For each reference graph at its native size (head 288x288, bg 720x720) three
contenders run the same image with the same weights: LiteRT (XNNPACK, 2 threads) on
the official ``.tflite``, the port as it was at ``--baseline-rev`` (read with ``git
show``, run as that revision's engine ran it, OpenMP spinning as it did then) and
today's engine (``Stylizer.run_model``, with the app's ``OMP_WAIT_POLICY=PASSIVE``).
Each lives in its own process, so one's allocator settings cannot help or hurt
another, and they take turns one call at a time, so all see the same machine load.
Prints medians, p95 and the ratios to LiteRT as a Markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.commands import bench
from app.process_setup import tune_for_frames

CONTENDERS = ("litert", "baseline", "ours")
SPINNING = "ours, spinning"
"""Optional fourth contender: today's engine with libgomp's default spin-wait (the app sets
``OMP_WAIT_POLICY=PASSIVE``, see ``app/__init__.py``); the baseline always spins, as it did."""
SPIN_ENV = {"GOMP_SPINCOUNT": "300000"}
"""libgomp's spin count when no wait policy is set; an explicit count overrides the policy's."""
REPO_ROOT = Path(__file__).resolve().parents[1]


def baseline_network(rev: str) -> types.ModuleType:
    """``dctnet/network.py`` as it was at ``rev`` (it imports only torch)."""
    source = subprocess.run(["git", "show", f"{rev}:dctnet/network.py"], cwd=REPO_ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(f"network_at_{rev}")
    exec(compile(source, f"{rev}:dctnet/network.py", "exec"), module.__dict__)  # our own file from git history
    return module


def contender(name: str, path: Path, rev: str) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 HxWx3 in, uint8 HxWx3 out, pre- and post-processing included for all three."""
    if name == "litert":
        return bench.litert_runner(path)
    import torch

    from dctnet.engine import Stylizer
    from dctnet.network import official_state_dict
    from dctnet.tflite import read_tflite_tensors

    weights = official_state_dict(read_tflite_tensors(path.read_bytes()), "tflite")
    if name in ("ours", SPINNING):
        stylizer = Stylizer(weights, weights, device="cpu", mode="background")
        return lambda image: stylizer.run_model("bg", image[None])[0]
    network = baseline_network(rev)
    model = network.TTN(weights["Conv.weight"].shape[0])
    model.load_state_dict(weights)
    model = model.eval().to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def run(image: np.ndarray) -> np.ndarray:  # the baseline engine's run_model
        x = torch.from_numpy(image)[None].permute(0, 3, 1, 2).float().contiguous(memory_format=torch.channels_last)
        return network.to_uint8(model(x))[0].permute(1, 2, 0).numpy()

    return run


def worker(conn, name: str, path: Path, rev: str, image: np.ndarray) -> None:
    """Run once per message; reply with the seconds it took (and the output, when asked)."""
    run = contender(name, path, rev)
    conn.send("ready")
    while (message := conn.recv()) is not None:
        started = time.perf_counter()
        output = run(image)
        conn.send((time.perf_counter() - started, output if message == "output" else None))


def start(context: multiprocessing.context.SpawnContext, name: str, args: tuple) -> tuple:
    """A worker process and our end of its pipe; a spawned child inherits the environment at start."""
    parent, child = context.Pipe()
    process = context.Process(target=worker, args=(child, name, *args), daemon=True)
    saved = dict(os.environ)
    if name in ("baseline", SPINNING):
        os.environ.update(SPIN_ENV)
    try:
        process.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return parent, process


def race(names: tuple[str, ...], path: Path, image: np.ndarray, rev: str, repeats: int, warmup: int) -> dict:
    context = multiprocessing.get_context("spawn")
    started = {name: start(context, name, (path, rev, image)) for name in names}
    pipes = {name: pipe for name, (pipe, _) in started.items()}
    processes = [process for _, process in started.values()]
    for pipe in pipes.values():
        assert pipe.recv() == "ready"
    samples: dict[str, list[float]] = {name: [] for name in names}
    outputs = {}
    for repeat in range(warmup + repeats):
        for name, pipe in pipes.items():
            pipe.send("output" if repeat == 0 else "time")
            seconds, output = pipe.recv()
            if repeat == 0:
                outputs[name] = output
            if repeat >= warmup:
                samples[name].append(seconds * 1000.0)
    for pipe in pipes.values():
        pipe.send(None)
    for process in processes:
        process.join()
    row = {name: bench.stats_ms(s) for name, s in samples.items()}
    for name in names[1:]:
        row[f"{name}/litert"] = round(row[name]["median_ms"] / row["litert"]["median_ms"], 3)
        row[f"{name} max |diff| LSB"] = int(np.abs(outputs[name].astype(int) - outputs["litert"].astype(int)).max())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-rev", default="1a18272", help="git revision of the port to compare (default: before issue 6)")
    parser.add_argument("--style", default="anime", help="reference style folder (default anime)")
    parser.add_argument("--reference", type=Path, default=bench.REFERENCE_ROOT)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--spinning", action="store_true", help=f"add the contender '{SPINNING}'")
    args = parser.parse_args()
    tune_for_frames()  # as the livetoon program runs (app.process_setup)
    names = (*CONTENDERS, SPINNING) if args.spinning else CONTENDERS
    labels = {"litert": "LiteRT", "baseline": f"before ({args.baseline_rev})", "ours": "after", SPINNING: "after, spinning"}
    print("| graph | " + " | ".join(f"{labels[n]} ms (p50 / p95)" for n in names) + " | "
          + " | ".join(f"{labels[n]}/LiteRT" for n in names[1:]) + " | max diff to LiteRT (LSB) |")
    print("|---" * (2 * len(names) + 1) + "|")
    for part, side in bench.REFERENCE_PARTS:
        path = args.reference / args.style / f"{part}.tflite"
        if not path.is_file():
            sys.exit(f"cpu_engine: {path} not found; pass --reference DIR")
        row = race(names, path, bench.comparison_image(argparse.Namespace(input=None), side), args.baseline_rev,
                   args.repeats, args.warmup)
        cells = [f"{row[n]['median_ms']:.1f} / {row[n]['p95_ms']:.1f}" for n in names]
        ratios = [f"{row[f'{n}/litert']:.2f}x" for n in names[1:]]
        diffs = ", ".join(str(row[f"{n} max |diff| LSB"]) for n in names[1:])
        print(f"| {args.style}/{part} {side}x{side} | {' | '.join(cells)} | {' | '.join(ratios)} | {diffs} |")


if __name__ == "__main__":
    main()
