"""Run a model as one replayed CUDA graph per input shape.

The first GPU check (an H200, docs/benchmarks.md) found a 720p frame's model work
at 5.4 ms, barely ahead of a plain fp32 port at 6.0 ms, although it runs in fp16:
each TTN pass is about a hundred small kernels (pads, convolutions, activations, the
guided filter), and the GPU spent its time waiting for Python to launch them. A
captured graph launches all of them with one call.

Frame sizes repeat (a camera, a file, a fixed head crop), so one graph per input
shape is captured on first use and replayed after; a few shapes are kept, the
least recently used one is dropped. A model that cannot be captured (an op that
syncs with the host) runs eagerly from then on, with a warning.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import torch

log = logging.getLogger(__name__)
MAX_SHAPES = 4
"""Graphs kept per model: a resize in the window or a second face adds one, each holds its activations."""
WARMUP_RUNS = 2
"""Eager runs before capture, on a side stream: cuDNN picks its kernels and lazy state is set up outside the graph."""


class GraphedModel:
    """Calls ``model(x)`` through a CUDA graph captured for ``x``'s shape and dtype.

    The returned tensor is the graph's own output buffer: it is overwritten by the
    next call with the same shape, so a caller uses or copies it first (the Stylizer
    converts it to uint8 at once).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.graphs: OrderedDict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = OrderedDict()
        self.eager = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.eager:
            return self.model(x)
        key = (tuple(x.shape), x.dtype)
        entry = self.graphs.get(key)
        if entry is None:
            try:
                entry = self._capture(x)
            except RuntimeError as exc:
                log.warning("running %s eagerly: CUDA graph capture failed (%s)", type(self.model).__name__, exc)
                self.eager = True
                self.graphs.clear()
                return self.model(x)
            self.graphs[key] = entry
            if len(self.graphs) > MAX_SHAPES:
                self.graphs.popitem(last=False)
        self.graphs.move_to_end(key)
        graph, static_in, static_out = entry
        static_in.copy_(x)
        graph.replay()
        return static_out

    def _capture(self, x: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        static_in = x.clone()
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                self.model(static_in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.model(static_in)
        return graph, static_in, static_out
