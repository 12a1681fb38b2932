"""The live pipeline's last stage: each output frame to the outputs and the preview.

An :class:`~app.live.contracts.OutputStage`, on the output thread. It hands every frame
forward (to the :class:`~app.live.sink_set.SinkSet` and to ``on_frame``) and calls nothing
of the pipeline's or the session's. It also hears the source's state (on a source thread),
because the one rule that ties the two, "a frame captured before the camera was lost
must not lift the lost-camera slate", needs both.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.live.contracts import SourceState
from app.live.settings import LiveSettings
from app.live.sink_set import SinkSet
from app.live.sources import StatusHook
from app.pipeline import Processed


class Delivery:
    """Bypass, the lost camera's slate and the preview, around :meth:`SinkSet.submit`."""

    def __init__(self, sinks: SinkSet, settings: Callable[[], LiveSettings],
                 on_frame: Callable[[Processed], None] | None = None, on_status: StatusHook | None = None) -> None:
        """``settings`` is read every frame (bypass can be switched while running);
        ``on_status`` hears the source's state after the sinks have been told, ``on_frame``
        each frame after the sinks."""
        self.sinks, self.settings, self.on_frame = sinks, settings, on_frame
        self._on_status = on_status or (lambda state, detail: None)
        self._lost_at = 0.0

    def source_status(self, state: SourceState, detail: str) -> None:
        """On a source thread: a lost camera puts the slate on every output first, then says so."""
        if state is SourceState.LOST:
            self._lost_at = time.perf_counter()
            self.sinks.show_lost()
        self._on_status(state, detail)

    def __call__(self, processed: Processed) -> None:
        """With bypass, the preview gets the camera picture and the outputs the cartoon (the
        camera only with ``raw_to_outputs``, which is never remembered)."""
        settings = self.settings()
        if settings.bypass:
            camera = Processed(processed.frame, processed.frame.image, processed.frame.image)
            processed, preview = (camera, camera) if settings.raw_to_outputs else (processed, camera)
        else:
            preview = processed
        if processed.frame.time >= self._lost_at:  # one captured before the loss must not lift the slate
            self.sinks.submit(processed.output, processed.bgra if processed.alpha is not None else None,
                              processed.frame.time)
        if self.on_frame:
            self.on_frame(preview)
