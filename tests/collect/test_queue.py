"""The bounded span queue: counted in spans, whole batches out, closed for draining."""

from __future__ import annotations

import threading
import time

from voiceobs.collect.model import IngestedSpan
from voiceobs.collect.queue import SpanQueue
from voiceobs.results import SpanRecord


def _spans(n: int) -> list[IngestedSpan]:
    return [IngestedSpan(SpanRecord("a" * 32, f"{i + 1:016x}", "s", 1, 2)) for i in range(n)]


def test_the_bound_is_in_spans_and_an_oversized_batch_fits_an_empty_queue() -> None:
    q = SpanQueue(10)
    assert q.offer(_spans(6)) and q.depth == 6
    assert not q.has_room(5) and not q.offer(_spans(5)) and q.depth == 6
    assert q.offer(_spans(4)) and q.depth == 10
    assert len(q.take(100, 0)) == 2 and q.depth == 0
    assert q.offer(_spans(25)), "a request bigger than the bound must not be refused forever"
    assert not q.offer(_spans(1))


def test_take_returns_whole_batches_up_to_the_limit_in_order() -> None:
    q = SpanQueue(100)
    for n in (3, 4, 5):
        q.offer(_spans(n))
    first = q.take(8, 0)
    assert [len(b.spans) for b in first] == [3, 4]
    assert [len(b.spans) for b in q.take(1, 0)] == [5]  # at least one batch, even over the limit
    assert q.take(10, 0) == [] and q.depth == 0


def test_take_waits_for_a_batch_and_close_wakes_the_writer() -> None:
    q = SpanQueue(10)
    threading.Timer(0.1, lambda: q.offer(_spans(2))).start()
    got = q.take(10, 5)
    assert [len(b.spans) for b in got] == [2]
    assert got[0].accepted_at <= time.monotonic()
    threading.Timer(0.1, q.close).start()
    start = time.monotonic()
    assert q.take(10, 5) == []
    assert time.monotonic() - start < 4
    assert not q.offer(_spans(1)) and q.closed
