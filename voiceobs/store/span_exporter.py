"""Spans into the store: the OpenTelemetry exporter behind ``RedactingSpanProcessor``.

Pipeline servers, late exporters and the collector hand finished spans to
this exporter (through a ``BatchSpanProcessor``); a probe saves its spans
with its results instead. The exporter only ever sees redacted spans when it
is set up with ``voiceobs.tracing.setup_tracing(exporters=[...])``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from voiceobs.store.repository import Store
from voiceobs.tracing import spans_to_records

logger = logging.getLogger(__name__)


class SqlSpanExporter(SpanExporter):
    """Writes spans to the voiceobs store; put it behind a ``BatchSpanProcessor``.

    The store may be given open, or as a URL opened on first export: a store
    that is down when tracing starts must not stop the host from starting.
    A failed write is logged and counted in ``dropped``, never raised: the
    batch processor would only log it anyway, and a pipeline must keep
    serving while its trace store is away.
    """

    def __init__(self, store: Store | str, *, run_id: str | None = None) -> None:
        """``store`` is an open ``Store`` or a database URL; ``run_id`` tags every span."""
        self._store: Store | None = None if isinstance(store, str) else store
        self._url = store if isinstance(store, str) else None
        self._run_id = run_id
        self._lock = threading.Lock()
        self._shutdown = False
        #: Spans written to the store (new rows; retried duplicates are not counted).
        self.exported = 0
        #: Spans lost because the store could not take them.
        self.dropped = 0
        #: Export calls that failed.
        self.failures = 0
        #: The last error, one line, for a health check to show.
        self.last_error: str | None = None

    def _get_store(self) -> Store:
        if self._store is None:
            assert self._url is not None
            self._store = Store.open(self._url)
        return self._store

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Save one batch; on any failure count the spans as dropped and report FAILURE."""
        if self._shutdown:
            self.dropped += len(spans)
            return SpanExportResult.FAILURE
        with self._lock:
            try:
                records = spans_to_records(spans, self._run_id)
                self.exported += self._get_store().save_spans(records)
                return SpanExportResult.SUCCESS
            except Exception as exc:
                self.failures += 1
                self.dropped += len(spans)
                self.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                logger.warning(
                    "span store unavailable, dropped %d spans (%d in all): %s",
                    len(spans),
                    self.dropped,
                    self.last_error,
                )
                return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Stop accepting spans; an opened-here store is closed, a lent one is left open."""
        self._shutdown = True
        if self._url is not None and self._store is not None:
            try:
                self._store.close()
            except Exception:
                logger.debug("closing the span store failed", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here; the batch processor in front holds the queue."""
        return True


__all__ = ["SqlSpanExporter"]
