"""The file pipeline: every frame, in order, nothing dropped, timestamps kept.

Decoding runs on its own thread and encoding on another, so the model (the slow
part) never waits for I/O; the queues between them are bounded, so memory stays
flat on long files. Any stage's error stops all stages and is re-raised in the
caller (:class:`~app.workers.Crew`); so is Ctrl-C, after the threads have stopped, so the caller can finalize a
partial file. The processor may hold frames back (a two-sided stabilizer waits for
their future): it returns what is done, and the rest at the end.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from app.frames import VideoFrame
from app.pipeline import FrameProcessor, Processed
from app.workers import Crew

QUEUE_DEPTH = 4
POLL_SECONDS = 0.1
END = object()


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event) -> object:
    while not stop.is_set():
        try:
            return q.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
    return END


def run_file_pipeline(
    frames: Iterable[VideoFrame],
    process: FrameProcessor,
    sink: Callable[[Processed], None],
    on_frame: Callable[[int], None] | None = None,
) -> int:
    """Push every frame through ``process`` into ``sink``; returns the count of frames read."""
    stop = threading.Event()
    crew = Crew(stop)  # an error in any stage stops all, and is raised here
    decoded: queue.Queue = queue.Queue(QUEUE_DEPTH)
    finished: queue.Queue = queue.Queue(QUEUE_DEPTH)

    def read() -> None:
        iterator: Iterator[VideoFrame] = iter(frames)
        while not stop.is_set():
            started = time.perf_counter()
            item = next(iterator, END)
            process.times.add("decode", time.perf_counter() - started)
            if not _put(decoded, item, stop) or item is END:
                return

    def write() -> None:
        while (item := _get(finished, stop)) is not END:
            started = time.perf_counter()
            sink(item)
            process.times.add("encode", time.perf_counter() - started)

    crew.start(read, "decode")
    writer = crew.start(write, "encode")
    count = 0
    try:
        while (item := _get(decoded, stop)) is not END:
            if not all(_put(finished, done, stop) for done in process.push(item)):
                break
            count += 1
            if on_frame:
                on_frame(count)
        if not stop.is_set():
            for done in process.finish():  # what a two-sided stabilizer still held
                _put(finished, done, stop)
        _put(finished, END, stop)
        writer.join()
    finally:
        crew.join()
    crew.raise_first()
    return count
