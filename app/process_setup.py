"""What belongs to the whole process, set once at the entry points, never in a constructor.

Three settings change the process for everyone in it: glibc's allocator, cuDNN's
kernel choice and file descriptor 2. Done in constructors (as they once were, in
``Stylizer``, ``FaceDetector`` and ``SelfieSegmenter``), they happened as a side
effect of whichever object came first, and a library user or a test could not tell
or choose. So the
programs say so themselves: ``livetoon`` and ``python main.py`` (:mod:`app.entry`)
call :func:`set_up_process`; the test suite and the benchmarks that time the model
call :func:`tune_for_frames`, so they measure what users run.
"""

from __future__ import annotations

import ctypes
import os
import sys

import torch

from common.native_log import NativeStderrFilter

GLIBC_M_TRIM_THRESHOLD = -1
GLIBC_M_MMAP_MAX = -4
HEAP_KEEP_BYTES = 1 << 30

_stderr_filter = NativeStderrFilter()


def keep_freed_memory() -> bool:
    """Make glibc keep big freed blocks for the next frame instead of unmapping them.

    A frame allocates the same few 16-120 MB activations every time (and the matte's
    refinement several full-size planes). glibc serves blocks that large with a fresh
    ``mmap`` and unmaps them on ``free``, so every frame page-faults its whole working
    set back in: on a 2-core CPU that was a third of the bg model's time at 720x720
    (LiteRT avoids it with a preallocated arena), and the matte's 720p refinement took
    20 ms instead of 4.
    Serving them from the heap, and not trimming it, keeps one frame's peak resident,
    which is what the next frame needs anyway. Idempotent; a no-op (False) off glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(GLIBC_M_MMAP_MAX, 0) and libc.mallopt(GLIBC_M_TRIM_THRESHOLD, HEAP_KEEP_BYTES))
    except (OSError, AttributeError):  # not glibc (musl, ...): keep the allocator's defaults
        return False


def tune_for_frames() -> None:
    """The process runs the same frame sizes again and again: keep freed memory for the
    next frame (CPU), and let cuDNN time its kernels once per size and keep the fastest
    (CUDA; a fixed choice is slower at some sizes)."""
    keep_freed_memory()
    torch.backends.cudnn.benchmark = True


def quiet_native_chatter() -> None:
    """MediaPipe's and TFLite's start-up lines (written to fd 2 from C++, at moments Python
    does not control) are dropped for the rest of the process; every other line passes
    (:mod:`common.native_log`). Process-wide because fd 2 is: two filters, one per
    detector, would stack pipes and pumps."""
    _stderr_filter.__enter__()


def set_live_threads(frames_carried: bool) -> int:
    """torch's threads for a live run, set once by its entry point (``livetoon live``, the window).

    ``torch.set_num_threads`` is process-wide: threads started after the call take the
    number too, so it is no per-frame or per-thread choice (the model thread once set it on
    every keyframe). When every camera frame goes out carried (model fps ``auto`` or a
    number) one core is left to the output thread: on a 2-core CPU, measured, 24 output fps
    at 720p instead of 18. The window leaves it in every mode: its preview is painted on the
    GUI thread whatever the mode. Returns the number set.
    """
    threads = torch.get_num_threads()
    if frames_carried:
        threads = max(1, min(threads, (os.cpu_count() or 2) - 1))
    torch.set_num_threads(threads)
    return threads


def set_up_process() -> None:
    """All of the above, for the ``livetoon`` program."""
    tune_for_frames()
    quiet_native_chatter()
