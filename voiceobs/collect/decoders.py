"""Decoding and redaction in worker processes, so intake is not bound to the writer's core.

Decoding an OTLP body and redacting every span is pure CPU work on bytes in
and redacted spans out, and it is most of what a request costs. In the
server's own process it shares one interpreter lock with the writer thread
(bulk writes, call assembly, recording), so one process tops out at one
core. ``DecoderPool`` runs that step in ``processes`` spawned workers, each
with its own copy of the server's redactor (same policy, same key, so the
same pseudonyms), and hands back only what the handler needs: the redacted
spans and the counts the partial-success answer and the metrics report.

Nothing unredacted crosses back: a worker redacts before it returns. A
worker that dies (killed, out of memory) breaks the pool; the request that
saw it is answered 503 with Retry-After, so the sender keeps its spans and
retries, and the pool is started afresh for the next one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from voiceobs.collect import otlp
from voiceobs.collect.door import Admitted, admit
from voiceobs.collect.model import IngestedSpan
from voiceobs.redact import Redactor
from voiceobs.results import SpanRecord

log = logging.getLogger(__name__)

#: Most worker processes ``auto`` picks: past a few, the writer, not decoding, sets the pace.
AUTO_MAX = 4

_redactor: Redactor | None = None


class DecoderDied(Exception):
    """A worker process died while decoding a request; the request should be retried."""


def auto_processes(cpus: int | None = None) -> int:
    """Workers for ``--decoders auto``: one per core beyond the writer's, none on one core."""
    n = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(0, min(AUTO_MAX, n - 1))


def decode_and_admit(
    payload: bytes, media: str, received_ns: int, redactor: Redactor
) -> tuple[otlp.Decoded, Admitted]:
    """Decode a request and redact its spans; spans redaction had to drop count as rejected."""
    decoded = otlp.decode(payload, media, received_ns)
    admitted = admit(decoded, redactor)
    for reason, n in admitted.dropped.items():
        decoded.rejected[reason] += n
        decoded.messages.setdefault(
            reason, "redaction failed, so the span was dropped rather than stored unredacted"
        )
    return decoded, admitted


def _init_worker(redactor: Redactor, level: int) -> None:
    global _redactor
    _redactor = redactor
    logging.basicConfig(level=level, format="%(levelname)s voiceobs-collect-decoder: %(message)s")


def _ready() -> int:
    return os.getpid()


#: SpanRecord's fields in order: a record travels as a plain tuple of them.
_RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SpanRecord))
#: A request's redacted spans as they travel: records as tuples (plus the index of their
#: resource and their scope), the distinct resources once, and the redaction drops.
_Packed = tuple[list[tuple[Any, ...]], list[Mapping[str, Any]], Counter[str]]


def _pack(admitted: Admitted) -> _Packed:
    # Plain tuples unpickle faster than dataclasses, and the receiving side is the server's
    # one busy core.
    resources: dict[int, int] = {}
    shared: list[Mapping[str, Any]] = []
    rows = []
    for span in admitted.spans:
        key = id(span.resource)
        index = resources.get(key)
        if index is None:
            index = resources[key] = len(shared)
            shared.append(span.resource)
        record = span.record
        rows.append((*(getattr(record, f) for f in _RECORD_FIELDS), index, span.scope))
    return rows, shared, admitted.dropped


def _unpack(packed: _Packed) -> Admitted:
    rows, shared, dropped = packed
    n = len(_RECORD_FIELDS)
    spans = [IngestedSpan(SpanRecord(*row[:n]), shared[row[n]], row[n + 1]) for row in rows]
    return Admitted(spans=spans, dropped=dropped)


def _work(
    body: bytes, encoding: str | None, media: str, limit: int, received_ns: int
) -> tuple[otlp.Decoded, _Packed] | tuple[int, str]:
    """In a worker: decompress, decode, redact. Errors come back as (status, message)."""
    assert _redactor is not None, "worker started without a redactor"
    try:
        payload = otlp.decompress(body, encoding, limit)
        decoded, admitted = decode_and_admit(payload, media, received_ns, _redactor)
    except otlp.OtlpError as exc:
        # Returned, not raised: an exception with its own constructor does not unpickle.
        return exc.status, str(exc)
    kept = decoded.accepted
    decoded.resources = []  # raw spans stay here; only the redacted ones travel back
    decoded.kept = kept
    return decoded, _pack(admitted)


class DecoderPool:
    """``processes`` spawned workers that decompress, decode and redact request bodies."""

    def __init__(self, processes: int, redactor: Redactor) -> None:
        if processes < 1:
            raise ValueError("a decoder pool needs at least one process")
        self.processes = processes
        self._redactor = redactor
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # Spawned, not forked: the server has threads (writer, uvicorn), and a fork
                # would copy their locks in whatever state they held them.
                self._pool = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(self._redactor, logging.getLogger().getEffectiveLevel()),
                )
            return self._pool

    def warm(self) -> list[int]:
        """Start every worker now (the first request would otherwise wait for it); their pids."""
        pool = self._executor()
        return sorted({f.result() for f in [pool.submit(_ready) for _ in range(self.processes)]})

    async def decode(
        self, body: bytes, encoding: str | None, media: str, limit: int, received_ns: int
    ) -> tuple[otlp.Decoded, Admitted]:
        """Decoded and redacted ``body``; raises ``OtlpError`` for a bad body, ``DecoderDied``."""
        pool = self._executor()
        loop = asyncio.get_running_loop()
        try:
            out = await loop.run_in_executor(pool, _work, body, encoding, media, limit, received_ns)
        except BrokenProcessPool:
            self._discard(pool)
            raise DecoderDied("a decoder process died; retry the request") from None
        if isinstance(out[0], int):
            status, message = out
            assert isinstance(message, str)
            raise otlp.OtlpError(status, message)
        decoded, packed = out
        assert isinstance(decoded, otlp.Decoded) and not isinstance(packed, str)
        return decoded, _unpack(packed)

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        log.error("a decoder process died; starting the decoders afresh")
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (requests in flight finish first)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


__all__ = ["AUTO_MAX", "DecoderDied", "DecoderPool", "auto_processes", "decode_and_admit"]
