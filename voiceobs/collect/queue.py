"""The bounded queue between the HTTP handlers and the writer, counted in spans.

Requests must be answered in milliseconds while the store takes batches in
its own time, so accepted spans wait here. The bound is what turns a slow
or absent store into back-pressure the sender understands (429 with
Retry-After, which every OTLP exporter retries) instead of unbounded memory.
It counts spans, not requests, because one request may hold one span or
thousands. A request larger than the whole bound is still taken when the
queue is empty, so no batch is refused forever.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from voiceobs.collect.model import IngestedSpan


@dataclass(frozen=True)
class Batch:
    """The spans of one accepted request and when it was accepted (``time.monotonic()``)."""

    spans: Sequence[IngestedSpan]
    accepted_at: float


class SpanQueue:
    """A FIFO of accepted batches, at most ``capacity`` spans, for one writer thread."""

    def __init__(self, capacity: int) -> None:
        """``capacity`` spans may wait at once (at least 1)."""
        self.capacity = max(1, int(capacity))
        self._batches: deque[Batch] = deque()
        self._depth = 0
        self._cond = threading.Condition()
        self._closed = False

    @property
    def depth(self) -> int:
        """Spans waiting now."""
        return self._depth

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: nothing more is accepted."""
        return self._closed

    def has_room(self, spans: int = 1) -> bool:
        """Whether ``spans`` more would be accepted now (checked before decoding a body)."""
        with self._cond:
            return not self._closed and self._fits(spans)

    def _fits(self, spans: int) -> bool:
        return self._depth == 0 or self._depth + spans <= self.capacity

    def offer(self, spans: Sequence[IngestedSpan]) -> bool:
        """Queue one request's spans; False (nothing queued) when full or closed."""
        with self._cond:
            if self._closed or not self._fits(len(spans)):
                return False
            self._batches.append(Batch(spans, time.monotonic()))
            self._depth += len(spans)
            self._cond.notify()
            return True

    def take(self, max_spans: int, wait_s: float) -> list[Batch]:
        """Whole batches up to ``max_spans`` spans (at least one batch), waiting up to ``wait_s``.

        Returns an empty list when nothing arrived in time or the queue is
        closed and empty.
        """
        with self._cond:
            if not self._batches and not self._closed:
                self._cond.wait(wait_s)
            out: list[Batch] = []
            taken = 0
            while self._batches and (not out or taken + len(self._batches[0].spans) <= max_spans):
                batch = self._batches.popleft()
                out.append(batch)
                taken += len(batch.spans)
            self._depth -= taken
            return out

    def close(self) -> None:
        """Accept nothing more; wake the writer so it drains what is left and stops."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


__all__ = ["Batch", "SpanQueue"]
