"""The one "newest frame wins" handoff, on real threads: what every live stage relies on."""

from __future__ import annotations

import threading
import time

from app.handoff import NewestWins

COUNT = 2000


def test_a_slow_taker_gets_the_newest_items_in_order_and_every_overwrite_is_counted():
    slot: NewestWins[int] = NewestWins()
    taken: list[int] = []

    def produce() -> None:
        for number in range(1, COUNT + 1):
            slot.put(number)
            if number % 100 == 0:
                time.sleep(0.001)
        slot.close()

    def consume() -> None:
        while True:
            ended = slot.closed
            item = slot.take(timeout=0.05)
            if item is None and ended:
                return
            if item is not None:
                taken.append(item)
                time.sleep(0.002)  # slower than the producer

    threads = [threading.Thread(target=consume), threading.Thread(target=produce)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert taken == sorted(set(taken)), "never an older item after a newer one, never one twice"
    assert taken[-1] == COUNT, "the last item put before closing is still delivered"
    assert len(taken) < COUNT / 2, f"a slow taker skips ({len(taken)} of {COUNT} taken)"
    assert slot.dropped + len(taken) == COUNT, "every item is either taken or counted as overwritten"


def test_take_waits_for_a_put_from_another_thread_and_no_longer():
    slot: NewestWins[str] = NewestWins()
    started = time.perf_counter()
    assert slot.take(timeout=0.1) is None
    waited = time.perf_counter() - started
    assert 0.09 <= waited < 1.0, f"an empty take waits its timeout ({waited:.3f} s)"
    threading.Timer(0.2, slot.put, args=("frame",)).start()
    started = time.perf_counter()
    assert slot.take(timeout=10) == "frame"
    assert time.perf_counter() - started < 5, "woken by the put, not by the timeout"
    assert slot.take() is None, "taking empties the slot"


def test_put_says_when_the_taker_had_taken_the_last_one():
    """How the window's worker signals once per painted frame instead of flooding Qt's queue."""
    slot: NewestWins[int] = NewestWins()
    assert slot.put(1) is True
    assert slot.put(2) is False and slot.dropped == 1
    assert slot.take() == 2
    assert slot.put(3) is True


def test_close_wakes_a_waiting_taker_and_clear_drops_what_waits():
    slot: NewestWins[int] = NewestWins()
    result: list[int | None] = []
    taker = threading.Thread(target=lambda: result.append(slot.take(timeout=30)))
    taker.start()
    time.sleep(0.1)
    started = time.perf_counter()
    slot.close()
    taker.join(10)
    assert result == [None] and time.perf_counter() - started < 5
    slot.put(7)
    slot.clear()
    assert slot.take(timeout=1) is None and slot.dropped == 0, "cleared, not overwritten"
