"""From accepted spans to the store: the queue, the writer thread, the spool, and calls recorded.

::

    HTTP handler ─► redacted spans ─► SpanQueue (bounded) ─► writer thread
                                                              ├─► Store.save_spans_bulk (or the span spool)
                                                              └─► assembler.add ─► due calls ─► recording.record

The handlers only decode, redact and queue, so a request is answered in
milliseconds whatever the store is doing. One writer thread takes whole
batches off the queue (as many as arrived while it wrote the last ones, up to
``batch_spans``), writes them in one bulk statement, and feeds the same
spans to the assembler, whose finished or idle calls it records through
``voiceobs.recording.record(..., replace=True)``, the one recording path.

While the store is down, span batches go to the span spool and calls to the
run spool (through ``record``); both are replayed when the store answers
again. A full queue is answered 429, a down store with a full spool 503,
both with Retry-After, so senders keep the data and retry. Every span that
is not kept anyway is counted by reason in the metrics and logged (counts
and ids only, never content).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from voiceobs.collect.metrics import CollectorMetrics
from voiceobs.collect.model import IngestedSpan
from voiceobs.collect.queue import Batch, SpanQueue
from voiceobs.collect.storelink import StoreLink
from voiceobs.errors import ResultsLost, StoreError, StoreFull, StoreUnavailable
from voiceobs.recording import record
from voiceobs.redact import Redactor
from voiceobs.results import RunResult, SpanRecord
from voiceobs.store import Store
from voiceobs.store.joins import join_calls
from voiceobs.store.partitions import PartitionSchedule
from voiceobs.store.spool import SpanSpool, Spool, save_or_spool

log = logging.getLogger(__name__)


class Assembler(Protocol):
    """What the collector needs of the call assembler (``voiceobs.collect.assembly``).

    Only the writer thread calls it, so it needs no locking of its own.
    """

    def add(self, spans: Sequence[IngestedSpan]) -> object:
        """Take newly arrived (redacted) spans (what it returns is not used)."""
        ...

    def due(self, now: float) -> list[RunResult]:
        """Calls to record now: ended, idle past the timeout, or grown by late spans.

        ``now`` is ``time.monotonic()`` seconds, the clock the collector
        receives spans by (a bot's own clock may be skewed).
        """
        ...

    def flush_all(self) -> list[RunResult]:
        """Every open call, as it stands, at shutdown."""
        ...


class Admission(StrEnum):
    """What the collector says to a request's spans."""

    ACCEPTED = "accepted"
    #: The queue is full: 429 Too Many Requests with Retry-After.
    QUEUE_FULL = "queue_full"
    #: The store is down and the spool cannot take more: 503 with Retry-After.
    UNAVAILABLE = "unavailable"
    #: The collector is shutting down: 503 with Retry-After.
    STOPPING = "stopping"


@dataclass(frozen=True)
class CollectorSettings:
    """Queue bound, batch size, pacing and the spool's bound; the CLI's flags set these."""

    #: Most spans waiting for the writer before requests get 429.
    queue_spans: int = 50_000
    #: Most spans written in one bulk statement.
    batch_spans: int = 5_000
    #: How long the writer waits for spans when the queue is empty (also the assembler's tick).
    flush_s: float = 0.1
    #: How often a down store is tried again.
    retry_s: float = 1.0
    #: Most bytes of span batches the spool may hold (None: no bound but the disk).
    spool_max_bytes: int | None = 1 << 30
    #: Spooled span batches replayed between two new batches, so a backlog never stalls intake.
    replay_batches: int = 20
    #: Longest a request waits for the writer while more than a batch is queued.
    writer_first_s: float = 2.0
    #: Seconds a sender is told to wait on 429.
    retry_after_full_s: int = 1
    #: Seconds a sender is told to wait on 503.
    retry_after_unavailable_s: int = 5


class Collector:
    """Queues redacted spans, writes them in bulk, assembles calls and records them.

    ``store`` is an open ``Store`` (left open) or a database URL (opened
    when it can be, closed by :meth:`stop`). ``assembler`` is any object
    with :class:`Assembler`'s methods; without one, spans are stored and no
    calls are made of them.
    """

    def __init__(
        self,
        store: Store | str,
        *,
        assembler: Assembler | None = None,
        spool: Spool | None = None,
        settings: CollectorSettings | None = None,
        metrics: CollectorMetrics | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.settings = settings or CollectorSettings()
        self.link = StoreLink(store, retry_s=self.settings.retry_s)
        self.assembler = assembler
        self.spool = spool or Spool()
        self.span_spool = SpanSpool(
            self.spool.directory / "spans", max_bytes=self.settings.spool_max_bytes
        )
        self.metrics = metrics or CollectorMetrics()
        self.redactor = redactor
        self.queue = SpanQueue(self.settings.queue_spans)
        self.metrics.queue_capacity.set(self.queue.capacity)
        self.metrics.watch(
            lambda: self.queue.depth,
            lambda: self.span_spool.depth(),
            lambda: len(self.spool.pending()),
        )
        self._spool_ok = True
        self._record_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._next_probe = 0.0
        self._next_run_replay = 0.0
        self._spans_pending = bool(self.span_spool.pending())
        self._runs_pending = bool(self.spool.pending())
        self._partitions = PartitionSchedule()

    # -- the handlers' side ------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (opening the store if it can)."""
        if self._thread is not None:
            return
        self._update_store_gauge(self.link.get() is not None and self.link.up)
        self._thread = threading.Thread(
            target=self._run, name="voiceobs-collect-writer", daemon=True
        )
        self._thread.start()

    def admission(self, spans: int = 1) -> Admission:
        """Whether ``spans`` more would be accepted now; checked before a body is decoded."""
        if self._stopping or self.queue.closed:
            return Admission.STOPPING
        if not self.link.up and not self._spool_ok:
            return Admission.UNAVAILABLE
        if not self.queue.has_room(spans):
            return Admission.QUEUE_FULL
        return Admission.ACCEPTED

    def offer(self, spans: Sequence[IngestedSpan]) -> Admission:
        """Queue one request's redacted spans, or say why not (nothing is queued then)."""
        verdict = self.admission(len(spans))
        if verdict is Admission.ACCEPTED and spans and not self.queue.offer(spans):
            verdict = Admission.STOPPING if self.queue.closed else Admission.QUEUE_FULL
        if verdict is Admission.ACCEPTED:
            self.metrics.spans_accepted.inc(len(spans))
        elif spans:
            self.metrics.spans_refused.labels(verdict.value).inc(len(spans))
        return verdict

    def retry_after(self, verdict: Admission) -> int:
        """The Retry-After seconds for a refusal."""
        if verdict is Admission.QUEUE_FULL:
            return self.settings.retry_after_full_s
        return self.settings.retry_after_unavailable_s

    @property
    def alive(self) -> bool:
        """The writer is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def ready(self) -> bool:
        """Spans can be taken: the writer runs, and the store or the spool takes writes."""
        return self.alive and not self._stopping and (self.link.up or self._spool_ok)

    def status(self) -> dict[str, object]:
        """What /readyz shows: the store, the spool and the queue."""
        return {
            "ready": self.ready,
            "store": "up" if self.link.up else "down",
            "store_error": self.link.last_error,
            "spool": "writable" if self._spool_ok else "full",
            "queue_depth": self.queue.depth,
            "queue_capacity": self.queue.capacity,
        }

    def record_calls(self, runs: Sequence[RunResult], via: str) -> bool:
        """Record calls (from the assembler or a webhook); True when each was stored or spooled."""
        if not runs:
            return True
        runs = [_without_stored_spans(r) for r in runs]
        store = self.link.opened()
        with self._record_lock:
            try:
                recorded = record(
                    runs,
                    store=store,
                    db_url=None if store is not None else self.link.url,
                    spool=self.spool,
                    replace=True,
                    redactor=self.redactor,
                )
            except ResultsLost as exc:
                self.metrics.calls_dropped.labels("lost").inc(len(exc.lost))
                log.error(
                    "%d call(s) could be neither stored nor spooled and are lost: %s (ids %s)",
                    len(exc.lost), exc, ", ".join(r.id for r in exc.lost),
                )  # fmt: skip
                return False
        saved = recorded.saved
        if saved is not None:
            self.metrics.calls_stored.labels(via).inc(saved.saved + saved.duplicates)
            if saved.spooled:
                self.metrics.calls_spooled.labels(via).inc(saved.spooled)
                self._runs_pending = True
        return True

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Refuse new spans, drain the queue, record every open call, stop; True if it finished in time."""
        self._stopping = True
        self.queue.close()
        finished = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            finished = not self._thread.is_alive()
            if not finished:
                log.error(
                    "the writer did not finish within %.0f s; %d span(s) still queued",
                    timeout_s, self.queue.depth,
                )  # fmt: skip
        if finished:
            self.link.close()
        return finished

    # -- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        s = self.settings
        while True:
            batches = self.queue.take(s.batch_spans, s.flush_s)
            if batches:
                self._guard(self._write, batches)
                self._guard(self._assemble, batches)
            self._guard(self._housekeeping)
            if self.queue.closed and not batches and self.queue.depth == 0:
                break
        self._guard(self._flush_calls)

    def _guard(self, step: object, *args: object) -> None:
        assert callable(step)
        try:
            step(*args)
        except Exception as exc:  # the writer must outlive any one bad batch
            log.error(
                "collector writer step %s failed: %s",
                getattr(step, "__name__", step),
                type(exc).__name__,
            )

    def _write(self, batches: list[Batch]) -> None:
        records = [x.record for b in batches for x in b.spans]
        store = self.link.get()
        if store is None:
            self._spool_spans(records)
            return
        try:
            new = store.save_spans_bulk(records)
        except (StoreUnavailable, StoreFull) as exc:
            self.link.mark_down(exc)
            self._update_store_gauge(False)
            self._spool_spans(records)
            return
        except StoreError as exc:
            log.warning(
                "the store refused a batch of %d span(s) (%s); writing them one by one",
                len(records),
                exc,
            )
            one_by_one = self._write_one_by_one(store, records)
            if one_by_one is None:
                return
            new = one_by_one
        self.link.mark_up()
        self._update_store_gauge(True)
        self.metrics.spans_stored.inc(new)
        self.metrics.spans_duplicate.inc(len(records) - new)
        now = time.monotonic()
        for b in batches:
            self.metrics.write_lag_seconds.observe(now - b.accepted_at)

    def _write_one_by_one(self, store: Store, records: list[SpanRecord]) -> int | None:
        """Isolate the spans the store refuses (counted, dropped); None if the store went down."""
        new = 0
        for i, span in enumerate(records):
            try:
                new += store.save_spans_bulk([span])
            except (StoreUnavailable, StoreFull) as exc:
                self.link.mark_down(exc)
                self._update_store_gauge(False)
                self._spool_spans(records[i:])
                return None
            except StoreError as exc:
                self.metrics.spans_dropped.labels("store_rejected").inc()
                log.error("the store refused span %s/%s: %s", span.trace_id, span.span_id, exc)
        return new

    def _spool_spans(self, records: list[SpanRecord]) -> None:
        try:
            self.span_spool.write(records)
        except StoreError as exc:
            self._spool_ok = False
            self.metrics.spans_dropped.labels("spool_failed").inc(len(records))
            log.error(
                "%d span(s) lost: the store is down and the spool refused them (%s)",
                len(records),
                exc,
            )
            return
        self._spool_ok = True
        self._spans_pending = True
        self.metrics.spans_spooled.inc(len(records))

    def _assemble(self, batches: list[Batch]) -> None:
        if self.assembler is None:
            return
        for b in batches:
            if self.redactor is not None:
                # Their texts passed the door's redaction: recording the calls made of them
                # redacts each again, and this makes that a lookup (see mark_redacted).
                self.redactor.mark_redacted(
                    v for x in b.spans for v in x.record.attributes.values() if isinstance(v, str)
                )
            self.assembler.add(b.spans)

    def _housekeeping(self) -> None:
        """Record due calls; while the store is down probe it; once up, replay the spools."""
        if self.assembler is not None:
            try:
                due = self.assembler.due(time.monotonic())
            except Exception as exc:
                self.metrics.calls_dropped.labels("assembler_error").inc()
                log.error(
                    "the call assembler failed (%s); its due calls wait for the next tick",
                    type(exc).__name__,
                )
                due = []
            self.record_calls(due, "otlp")
        now = time.monotonic()
        if not self.link.up or not self._spool_ok:
            if now < self._next_probe:
                return
            self._next_probe = now + self.settings.retry_s
            if not self.link.ping() and not self._spool_ok:
                self._spool_ok = self.span_spool.writable()
            self._update_store_gauge(self.link.up)
            if not self.link.up:
                return
        store = self.link.opened()
        if store is not None:
            self._partitions.tick(store)  # PostgreSQL's day partitions, made a week ahead, hourly
        if self._spans_pending:
            self._replay_spans()
        if self._runs_pending and now >= self._next_run_replay:
            self._next_run_replay = now + self.settings.retry_s
            self._replay_runs()

    def _replay_spans(self) -> None:
        store = self.link.get()
        if store is None:
            return

        def save(records: list[SpanRecord]) -> int:
            try:
                new = store.save_spans_bulk(records)
            except (StoreUnavailable, StoreFull) as exc:
                self.link.mark_down(exc)
                raise
            self.metrics.spans_stored.inc(new)
            self.metrics.spans_duplicate.inc(len(records) - new)
            return new

        batches, spans = self.span_spool.replay(save, limit=self.settings.replay_batches)
        if spans:
            self.metrics.spans_replayed.inc(spans)
            log.info("replayed %d spooled span batch(es), %d span(s)", batches, spans)
        if self.link.up:
            self._spool_ok = True
            self._spans_pending = bool(self.span_spool.pending())

    def _replay_runs(self) -> None:
        store = self.link.opened()
        if store is None:
            return
        with self._record_lock:
            report = save_or_spool([], store, spool=self.spool, on_saved=_join)
        if report.replayed:
            self.metrics.calls_stored.labels("replay").inc(report.replayed)
        self._runs_pending = bool(self.spool.pending())

    def _flush_calls(self) -> None:
        if self.assembler is None:
            return
        runs = self.assembler.flush_all()
        if runs:
            log.info("recording %d open call(s) at shutdown", len(runs))
        self.record_calls(runs, "otlp")

    def _update_store_gauge(self, up: bool) -> None:
        self.metrics.store_up.set(1 if up else 0)


def _without_stored_spans(run: RunResult) -> RunResult:
    """The call without the spans of its own trace: the writer stored those already, in bulk.

    A call is found with its spans by its trace id (``Store.spans_for_run``),
    so recording them again through the per-span path would only cost time.
    Spans of other traces are kept and take the recording path.
    """
    if run.trace_id and run.spans and all(s.trace_id == run.trace_id for s in run.spans):
        return dataclasses.replace(run, spans=[])
    return run


def _join(store: Store, runs: Sequence[RunResult]) -> None:
    try:
        join_calls(store, [r.id for r in runs])
    except StoreError as exc:  # a join can be made later; the calls are safe
        log.warning("cannot join %d call(s) with their other side: %s", len(runs), exc)


__all__ = ["Admission", "Assembler", "Collector", "CollectorSettings"]
