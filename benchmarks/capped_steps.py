"""Run a list of steps so that one failing or hanging step cannot waste a scarce GPU window.

Each step runs on its own thread under a time cap. An exception is recorded (type,
message and the traceback's last lines) and the next step starts; a step past its
cap is recorded as such and left behind (CUDA work cannot be interrupted), and the
next step starts anyway. Results are written after every step, so a run killed from
outside still leaves everything finished so far.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Step = Callable[[float], dict[str, Any]]
"""A step gets its deadline (``time.monotonic()`` seconds) and returns its results, with ``ok``."""


@dataclass(frozen=True)
class CappedStep:
    name: str
    cap_seconds: float
    run: Step


def run_capped(step: CappedStep) -> dict[str, Any]:
    """The step's results plus ``seconds``; on an error or a missed cap, ``ok`` False and ``error``."""
    outcome: dict[str, Any] = {}
    started = time.monotonic()
    deadline = started + step.cap_seconds

    def target() -> None:
        try:
            outcome.update(step.run(deadline))
        except Exception as exc:  # noqa: BLE001 - any failure is a result to record, not a reason to stop
            outcome.update(ok=False, error=f"{type(exc).__name__}: {exc}".splitlines()[0],
                           traceback=traceback.format_exc(limit=-4))

    worker = threading.Thread(target=target, name=f"step-{step.name}", daemon=True)
    worker.start()
    worker.join(step.cap_seconds)
    if worker.is_alive():
        outcome = {"ok": False, "error": f"still running after its {step.cap_seconds:.0f} s cap; left behind"}
    outcome.setdefault("ok", False)
    outcome["seconds"] = round(time.monotonic() - started, 1)
    return outcome


def run_all(steps: list[CappedStep], record: Callable[[str, dict[str, Any]], None]) -> bool:
    """Every step in order, ``record(name, result)`` after each; True when all passed."""
    passed = True
    for step in steps:
        print(f"[{time.strftime('%H:%M:%S')}] {step.name} (cap {step.cap_seconds:.0f} s)", flush=True)
        result = run_capped(step)
        record(step.name, result)
        status = "ok" if result["ok"] else f"FAILED: {result.get('error', 'see results')}"
        print(f"[{time.strftime('%H:%M:%S')}] {step.name}: {status} ({result['seconds']} s)", flush=True)
        passed = passed and result["ok"]
    return passed
