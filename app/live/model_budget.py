"""The model's rate cap as a budget that forced keyframes draw on early.

``--model-fps N`` is a promise to a streamer: the model takes N runs a second of the GPU
or CPU, whatever the game needs besides. The output thread also asks for a keyframe at
once on a scene cut or a big move; granted whatever the cap (as it once was), those
requests broke the promise on a lively clip (toon-lite at 360p capped at 2 fps ran 2.85
times a second, 86% of the wall clock instead of about 60%). Here a cap is a token
bucket: one run costs one token, tokens come at N a second and never pile up beyond
one, and a forced run may start once half a token is there, so it comes up to half a
period early and the run after it waits that much longer. Over any stretch of T
seconds the model starts at most N * T + 1.5 times.
"""

from __future__ import annotations

import time
from collections.abc import Callable

FORCED_EARLY = 0.5
"""How early a forced run may start, in model periods."""


class ModelBudget:
    """``wait(fps, forced)``: seconds until a run may start; ``spend(fps)`` when it starts.
    ``fps`` None means no cap (every call answers 0). Not thread-safe: the model thread's own."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.tokens = 1.0  # the first run goes at once
        self.at = clock()

    def _refill(self, fps: float) -> None:
        now = self.clock()
        self.tokens = min(1.0, self.tokens + (now - self.at) * fps)
        self.at = now

    def wait(self, fps: float | None, forced: bool) -> float:
        if fps is None:
            self.at = self.clock()
            return 0.0
        self._refill(fps)
        needed = 1.0 - FORCED_EARLY if forced else 1.0
        return max(0.0, (needed - self.tokens) / fps)

    def spend(self, fps: float | None) -> None:
        if fps is not None:
            self._refill(fps)
            self.tokens -= 1.0
