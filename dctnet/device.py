"""Device choice with a reason users can read.

The most common complaint about comparable apps is a silent CPU fallback. So the
choice is an object that carries *why* it fell back, for the window, ``doctor`` and
``bench`` to show.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from common.errors import LiveToonError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    name: str
    fallback_reason: str | None = None

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def describe(self) -> str:
        text = f"{self.device.type} ({self.name})"
        return f"{text}; CUDA not used: {self.fallback_reason}" if self.fallback_reason else text


def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be used right now, or None when it can."""
    if torch.version.cuda is None:
        return (
            f"this PyTorch build ({torch.__version__}) has no CUDA support; "
            "install a CUDA build of torch to use an NVIDIA GPU"
        )
    try:
        if not torch.cuda.is_available():
            return "PyTorch has CUDA support but found no usable GPU (driver missing or too old?)"
        torch.zeros(1, device="cuda")
    except (RuntimeError, AssertionError) as exc:  # a broken driver raises here, not in is_available
        return f"CUDA failed to start: {str(exc).splitlines()[0]}"
    return None


def cpu_name() -> str:
    return f"{torch.get_num_threads()} threads"


def choose_device(requested: str = "auto") -> DeviceChoice:
    """Resolve ``auto|cpu|cuda``; an explicit ``cuda`` that cannot work is an error."""
    if requested not in DEVICE_CHOICES:
        raise LiveToonError(f"unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if requested == "cpu":
        return DeviceChoice(torch.device("cpu"), cpu_name())
    reason = cuda_unavailable_reason()
    if reason is None:
        return DeviceChoice(torch.device("cuda"), torch.cuda.get_device_name(0))
    if requested == "cuda":
        raise LiveToonError(f"--device cuda requested but {reason}")
    return DeviceChoice(torch.device("cpu"), cpu_name(), fallback_reason=reason)
