"""Every GPU check and benchmark in one call: ``python -m benchmarks.gpu_checks [--out DIR]``.

GPU time is scarce and often borrowed, so one command does it all and leaves a
JSON and a Markdown result behind:

1. CUDA (fp16, channels-last, on-device crop and paste) against the CPU path on real
   photos, for the built-in ``toon`` and ``toon-filter`` styles and, when ``../shared/dctnet-reference``
   exists, the official styles: no NaN fallback, and differences of fp16 size only;
2. model time of a 720p frame (bg 1280x720 + one 288 head), CUDA events, target 3 ms;
3. the same for a plain fp32 eager port (NCHW, no cudnn.benchmark): the speed-up;
4. the whole pipeline (``livetoon bench``) at 720p and 1080p: fps and p95 latency;
5. GPU memory over 10,000 stylized frames: allocated memory must not grow;
6. the toon trainer on CUDA (``python -m dctnet.train --device cuda``): steps a second
   and the held-out PSNR it reaches in a fixed number of steps.

Without a usable CUDA device it says why in one line and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from app import bench
from dctnet.device import cuda_unavailable_reason
from dctnet.engine import Stylizer
from dctnet.face import FaceDetector
from dctnet.network import TTN
from dctnet.styles import DEFAULT_STYLE, FILTER_STYLE, StyleRegistry, StylePart
from dctnet.train import build_parser, train
from dctnet.weights import official_state_dict, read_tflite_tensors

EXIT_NO_CUDA = 2
MODEL_TARGET_MS = 3.0
MEAN_DIFF_LIMIT = 0.5
P999_DIFF_LIMIT = 4
"""fp16 against fp32 through a 20-layer net and a truncating uint8 cast: single pixels
move a few levels where a value sits on a rounding edge; the mean must stay tiny."""
MEMORY_SLACK_BYTES = 1 << 20


def photos() -> dict[str, np.ndarray]:
    """A real portrait (NASA, public domain) as is, inside a 720p frame, and at 1080p."""
    from skimage import data

    portrait = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    frame = np.full((720, 1280, 3), 90, np.uint8)  # the face large enough for MediaPipe's short-range detector
    frame[:, 280:1000] = cv2.resize(portrait, (720, 720), interpolation=cv2.INTER_CUBIC)
    return {"portrait 512": portrait, "720p": frame,
            "1080p": cv2.resize(frame, (1920, 1080), interpolation=cv2.INTER_CUBIC)}


def styles(reference: Path) -> dict[str, tuple[StylePart, StylePart, str]]:
    """(head, bg, padding) per style: the built-in ones and every official one present."""
    found = {}
    for name in (DEFAULT_STYLE, FILTER_STYLE):
        head, bg, meta = StyleRegistry().get(name).load()
        found[name] = (head, bg, meta.get("padding", "white"))
    for folder in sorted(p for p in reference.glob("*") if (p / "bg.tflite").is_file()):
        head, bg = (official_state_dict(read_tflite_tensors((folder / f"{part}.tflite").read_bytes()), "tflite")
                    for part in ("head", "bg"))
        found[folder.name] = (head, bg, "white")
    return found


def equality(reference: Path) -> list[dict]:
    images = photos()
    with FaceDetector(static_image_mode=True) as detector:
        faces = {name: detector.detect(image) for name, image in images.items()}
    rows = []
    for style, (head, bg, padding) in styles(reference).items():
        cpu = Stylizer(head, bg, device="cpu", padding=padding)
        gpu = Stylizer(head, bg, device="cuda", padding=padding)
        for name, image in images.items():
            diff = np.abs(cpu.stylize(image, faces[name]).astype(int) - gpu.stylize(image, faces[name]).astype(int))
            row = {"style": style, "image": name, "faces": len(faces[name]), "max": int(diff.max()),
                   "mean": round(float(diff.mean()), 4), "p99.9": float(np.percentile(diff, 99.9)),
                   "stayed_fp16": gpu.dtype == torch.float16}
            row["ok"] = row["stayed_fp16"] and row["mean"] <= MEAN_DIFF_LIMIT and row["p99.9"] <= P999_DIFF_LIMIT
            rows.append(row)
    return rows


def cuda_ms(run, repeats: int = 200, warmup: int = 20) -> float:
    """Median milliseconds of ``run`` by CUDA events (GPU time, not Python's)."""
    for _ in range(warmup):
        run()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        start.record()
        run()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    return float(np.median(samples))


@torch.inference_mode()
def model_times() -> dict:
    """One 720p frame's model work (bg 1280x720 + one 288 head): our engine against a plain fp32 port."""
    head, bg, _ = StyleRegistry().get(DEFAULT_STYLE).load()
    engine = Stylizer(head, bg, device="cuda")
    frame = (torch.rand(1, 720, 1280, 3, device="cuda") * 255).round().permute(0, 3, 1, 2)
    crop = (torch.rand(1, 288, 288, 3, device="cuda") * 255).round().permute(0, 3, 1, 2)
    ours = cuda_ms(lambda: (engine.infer("bg", frame), engine.infer("head", crop)))
    torch.backends.cudnn.benchmark = False
    plain = {}
    for part, weights in (("bg", bg), ("head", head)):
        plain[part] = TTN(weights["Conv.weight"].shape[0]).cuda().eval()
        plain[part].load_state_dict(weights)
    frame32, crop32 = frame.contiguous(), crop.contiguous()
    baseline = cuda_ms(lambda: (plain["bg"](frame32), plain["head"](crop32)))
    torch.backends.cudnn.benchmark = True
    return {"ours_ms": round(ours, 3), "plain_fp32_eager_ms": round(baseline, 3),
            "speedup": round(baseline / ours, 2), "target_ms": MODEL_TARGET_MS, "ok": ours <= MODEL_TARGET_MS}


def pipeline(frames: int) -> dict:
    args = argparse.Namespace(input=None, size="720p,1080p", frames=frames, warmup=10, style=DEFAULT_STYLE,
                              device="cuda", mode="full", max_size=720)
    return bench.bench_pipeline(args)


def memory(frames: int, every: int = 1000) -> dict:
    """Allocated GPU memory every ``every`` frames of a 720p stylization with one face."""
    head, bg, _ = StyleRegistry().get(DEFAULT_STYLE).load()
    engine = Stylizer(head, bg, device="cuda")
    image = photos()["720p"]
    face = [bench.fixed_face(1280, 720)]
    samples = []
    started = time.perf_counter()
    for i in range(1, frames + 1):
        engine.stylize(image, face)
        if i % every == 0:
            torch.cuda.synchronize()
            samples.append(torch.cuda.memory_allocated())
    growth = samples[-1] - samples[0]
    return {"frames": frames, "every": every, "allocated_bytes": samples, "growth_bytes": growth,
            "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
            "fps": round(frames / (time.perf_counter() - started), 1), "ok": growth <= MEMORY_SLACK_BYTES}


def training(steps: int) -> dict:
    """A short ``toon-lite``-sized run of the real trainer on CUDA, on the bundled photos."""
    with tempfile.TemporaryDirectory() as tmp:
        args = build_parser().parse_args(["--out", str(Path(tmp) / "t.safetensors"), "--channels", "16",
                                          "--max-steps", str(steps), "--minutes", "30", "--lr", "5e-4",
                                          "--photos", "skimage", "--device", "cuda", "--report-seconds", "1e9"])
        info = train(args)
    return {"steps": info["step"], "seconds": round(info["seconds"], 1),
            "steps_per_second": round(info["step"] / info["seconds"], 2), "val_psnr": info["val_psnr"]}


def markdown(result: dict) -> str:
    env = result["environment"]
    lines = [f"# GPU checks: {env['device']}", "",
             f"torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}", "", "## CUDA vs CPU (LSB)", "",
             "| style | image | faces | max | mean | p99.9 | stayed fp16 | ok |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['style']} | {r['image']} | {r['faces']} | {r['max']} | {r['mean']} | {r['p99.9']} | {r['stayed_fp16']} | {r['ok']} |"
              for r in result["equality"]]
    m = result["model_720p"]
    lines += ["", "## Model time, 720p frame (bg 1280x720 + one 288 head)", "",
              f"ours {m['ours_ms']} ms (target {m['target_ms']} ms, ok: {m['ok']}); plain fp32 eager "
              f"{m['plain_fp32_eager_ms']} ms; speed-up {m['speedup']}x", "", "## Pipeline", "", "```",
              bench.render(result["pipeline"]), "```", "", "## Memory", ""]
    mem = result["memory"]
    lines.append(f"{mem['frames']} frames at {mem['fps']} fps: allocated growth {mem['growth_bytes']} bytes, "
                 f"peak reserved {mem['peak_reserved_bytes'] / 2**20:.0f} MiB, ok: {mem['ok']}")
    t = result["training"]
    lines += ["", "## Training (16 channels, batch 4, 160 px crops)", "",
              f"{t['steps']} steps in {t['seconds']} s ({t['steps_per_second']} steps/s), held-out PSNR {t['val_psnr']} dB"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-checks"), help="folder for gpu_checks.json and .md")
    parser.add_argument("--reference", type=Path, default=bench.REFERENCE_ROOT)
    parser.add_argument("--pipeline-frames", type=int, default=300)
    parser.add_argument("--memory-frames", type=int, default=10_000)
    parser.add_argument("--training-steps", type=int, default=2_000)
    args = parser.parse_args(argv)
    reason = cuda_unavailable_reason()
    if reason is not None:
        print(f"gpu_checks: no usable CUDA GPU: {reason}", file=sys.stderr)
        return EXIT_NO_CUDA
    result = {"environment": {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                              "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}}
    result["equality"] = equality(args.reference)
    result["model_720p"] = model_times()
    result["pipeline"] = pipeline(args.pipeline_frames)
    result["memory"] = memory(args.memory_frames)
    result["training"] = training(args.training_steps)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_checks.json").write_text(json.dumps(result, indent=2))
    (args.out / "gpu_checks.md").write_text(markdown(result))
    print(markdown(result))
    passed = all(r["ok"] for r in result["equality"]) and result["model_720p"]["ok"] and result["memory"]["ok"]
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
