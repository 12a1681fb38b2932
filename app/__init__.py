"""I/O, orchestration and front ends (CLI, Qt window); knows nothing of how stylization works inside.

Before anything here imports torch: torch's OpenMP threads (libgomp) spin at every
barrier by default, and in LiveToon the model always shares the cores with decode,
face tracking, flow and encode threads; a spinning thread then waits for one that is
not running, and the model slowed down up to 8x on the 2-core CI machine (measured in
docs/benchmarks.md). libgomp reads this once, when torch loads, so it is set where
every front end (``main.py``, the ``livetoon`` console script) enters. A value the
user sets wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
