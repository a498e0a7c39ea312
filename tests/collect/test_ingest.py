"""The collector's writer: bulk writes, calls recorded, store outages spooled and replayed, nothing lost."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.collect.conftest import TcpProxy, TraceAssembler, span_count, wait_until
from voiceobs.collect.ingest import Admission, Collector, CollectorSettings
from voiceobs.collect.model import IngestedSpan
from voiceobs.results import RunResult, SpanRecord
from voiceobs.store import Store
from voiceobs.store.spool import Spool


def _trace(n: int, *, trace_id: str | None = None, end: bool = True, transcript: str = "hello") -> list[IngestedSpan]:
    """A conversation of ``n`` turns (and its conversation span when ``end``)."""
    trace_id = trace_id or uuid.uuid4().hex
    now = time.time_ns()
    resource = {"service.name": "bot"}
    spans = [
        IngestedSpan(
            SpanRecord(trace_id, uuid.uuid4().hex[:16], "turn", now + i, now + i + 10, attributes={"transcript": transcript}),
            resource,
        )
        for i in range(n)
    ]
    if end:
        spans.append(IngestedSpan(SpanRecord(trace_id, uuid.uuid4().hex[:16], "conversation", now - 1, now + n + 20), resource))
    return spans


def _fast(**kw: object) -> CollectorSettings:
    return CollectorSettings(flush_s=0.02, retry_s=0.2, **kw)  # type: ignore[arg-type]


def _metric(c: Collector, name: str, **labels: str) -> float:
    return c.metrics.registry.get_sample_value(name, labels or None) or 0.0


def test_spans_are_stored_once_and_calls_recorded(store: Store, tmp_path: Path) -> None:
    assembler = TraceAssembler()
    c = Collector(store, assembler=assembler, spool=Spool(tmp_path / "spool"), settings=_fast())
    c.start()
    try:
        spans = _trace(3)
        assert c.offer(spans) is Admission.ACCEPTED
        assert c.offer(spans[:2]) is Admission.ACCEPTED  # an exporter's retry of part of it
        wait_until(lambda: store.count_runs() == 1, what="the call recorded")
        wait_until(lambda: _metric(c, "voiceobs_collect_spans_duplicate_total") == 2)
        assert span_count(store) == 4
        assert _metric(c, "voiceobs_collect_spans_stored_total") == 4
        run = store.get_run(spans[0].record.trace_id)
        assert run is not None and run.source == "production" and len(run.turns) == 3
        assert len(store.spans_for_run(run.id)) == 4  # found by its trace id
    finally:
        assert c.stop()
    assert _metric(c, "voiceobs_collect_calls_stored_total", via="otlp") == 1


def test_a_call_that_grows_is_replaced_not_duplicated(store: Store, tmp_path: Path) -> None:
    c = Collector(store, assembler=TraceAssembler(), spool=Spool(tmp_path / "spool"), settings=_fast())
    c.start()
    try:
        trace_id = uuid.uuid4().hex
        c.offer(_trace(1, trace_id=trace_id))
        wait_until(lambda: store.count_runs() == 1)
        c.offer(_trace(2, trace_id=trace_id))  # late spans of the same conversation
        wait_until(lambda: len(getattr(store.get_run(trace_id), "turns", [])) == 2, what="the rewrite")
        assert store.count_runs() == 1
    finally:
        c.stop()


def test_stop_drains_the_queue_and_records_open_calls(store: Store, tmp_path: Path) -> None:
    assembler = TraceAssembler(idle_s=3600)
    c = Collector(store, assembler=assembler, spool=Spool(tmp_path / "spool"), settings=_fast())
    c.start()
    open_call = _trace(2, end=False)  # its end never arrives
    for _ in range(20):
        c.offer(_trace(5, end=False))
    c.offer(open_call)
    assert c.stop(timeout_s=60)
    assert span_count(store) == 21 * 5 - 3
    assert store.count_runs() == 21  # every open call flushed as it stood
    assert c.offer(_trace(1)) is Admission.STOPPING


def test_spans_the_store_refuses_are_isolated_counted_and_the_rest_kept(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(pg_url, create=True)
    c = Collector(store, spool=Spool(tmp_path / "spool"), settings=_fast())
    c.start()
    try:
        good = _trace(3)
        bad = SpanRecord("c" * 32, "d" * 16, "turn", 1, 2, kind="K" * 40)  # wider than the column
        c.offer([*good, IngestedSpan(bad)])
        wait_until(lambda: _metric(c, "voiceobs_collect_spans_dropped_total", reason="store_rejected") == 1)
        assert span_count(store) == 4
        assert _metric(c, "voiceobs_collect_spans_spooled_total") == 0
    finally:
        c.stop()
        store.close()


class _Failing(TraceAssembler):
    def due(self, now: float) -> list[RunResult]:
        raise RuntimeError("assembler bug")


def test_a_failing_assembler_does_not_stop_the_writer(store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = Collector(store, assembler=_Failing(), spool=Spool(tmp_path / "spool"), settings=_fast())
    c.start()
    try:
        c.offer(_trace(2))
        wait_until(lambda: span_count(store) == 3)
        c.offer(_trace(2))
        wait_until(lambda: span_count(store) == 6, what="the writer still writing")
        assert c.alive and _metric(c, "voiceobs_collect_calls_dropped_total", reason="assembler_error") >= 1
    finally:
        c.stop()


@pytest.mark.postgres
def test_a_store_outage_spools_spans_and_calls_and_replays_them_all(
    pg_proxy: tuple[TcpProxy, str], pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, url = pg_proxy
    direct = Store.open(pg_url, create=True)  # the test's own view, not through the proxy
    spool = Spool(tmp_path / "spool")
    c = Collector(url, assembler=TraceAssembler(), spool=spool, settings=_fast())
    c.start()
    sent = 0
    try:
        for _ in range(5):
            batch = _trace(4)
            assert c.offer(batch) is Admission.ACCEPTED
            sent += len(batch)
        wait_until(lambda: _metric(c, "voiceobs_collect_spans_stored_total") == sent)
        wait_until(lambda: direct.count_runs() == 5)
        proxy.cut()
        for _ in range(10):
            batch = _trace(4)
            assert c.offer(batch) is Admission.ACCEPTED, "the spool takes spans while the store is down"
            sent += len(batch)
        wait_until(lambda: _metric(c, "voiceobs_collect_spans_spooled_total") == 50, what="spans spooled")
        wait_until(lambda: len(spool.pending()) == 10, what="calls spooled")
        assert not c.link.up and c.ready
        assert c.span_spool.depth() > 0
        proxy.restore()
        wait_until(lambda: c.span_spool.depth() == 0 and not spool.pending(), timeout=30, what="replay")
    finally:
        assert c.stop()
    try:
        assert span_count(direct) == sent == 75, "every span sent is stored, once"
        assert direct.count_runs() == 15
    finally:
        direct.close()
    assert _metric(c, "voiceobs_collect_spans_replayed_total") == 50
    assert _metric(c, "voiceobs_collect_spans_dropped_total", reason="spool_failed") == 0
    assert "store unavailable, spooling" in caplog.text


@pytest.mark.postgres
def test_a_full_spool_during_an_outage_answers_unavailable_and_counts_what_it_lost(
    pg_proxy: tuple[TcpProxy, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, url = pg_proxy
    c = Collector(url, spool=Spool(tmp_path / "spool"), settings=_fast(spool_max_bytes=3000))
    c.start()
    try:
        wait_until(lambda: c.link.opened() is not None)
        proxy.cut()
        accepted = 0
        verdict = Admission.ACCEPTED
        deadline = time.monotonic() + 20
        while verdict is Admission.ACCEPTED and time.monotonic() < deadline:
            batch = _trace(3)
            verdict = c.offer(batch)
            accepted += len(batch) if verdict is Admission.ACCEPTED else 0
            time.sleep(0.05)
        assert verdict is Admission.UNAVAILABLE
        assert not c.ready and c.status()["spool"] == "full"
        spooled = _metric(c, "voiceobs_collect_spans_spooled_total")
        lost = _metric(c, "voiceobs_collect_spans_dropped_total", reason="spool_failed")
        assert spooled > 0 and spooled + lost == accepted, "every accepted span is spooled or counted lost"
        assert "lost: the store is down and the spool refused them" in caplog.text
        proxy.restore()
        wait_until(lambda: c.admission() is Admission.ACCEPTED, timeout=30, what="accepting again")
        wait_until(lambda: c.span_spool.depth() == 0, timeout=30)
    finally:
        c.stop()


def test_record_calls_spools_a_call_when_the_store_is_down(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    c = Collector(down, spool=spool, settings=_fast())
    run = RunResult(probe_name="vapi", target_url="", started_at=__import__("voiceobs.results").results.utcnow(), source="production")
    assert c.record_calls([run], "vapi")
    assert len(spool.pending()) == 1
    assert _metric(c, "voiceobs_collect_calls_spooled_total", via="vapi") == 1


def _never(_: Sequence[IngestedSpan]) -> None:
    raise AssertionError


def test_admission_refuses_a_full_queue_and_counts_it(store: Store, tmp_path: Path) -> None:
    c = Collector(store, spool=Spool(tmp_path / "spool"), settings=_fast(queue_spans=5))
    # Not started: nothing drains, so the queue fills.
    assert c.offer(_trace(4)) is Admission.ACCEPTED
    assert c.admission(3) is Admission.QUEUE_FULL
    assert c.offer(_trace(2)) is Admission.QUEUE_FULL
    assert _metric(c, "voiceobs_collect_spans_refused_total", reason="queue_full") == 3
    assert c.retry_after(Admission.QUEUE_FULL) == 1
    logging.getLogger(__name__).debug("queue depth %d", c.queue.depth)


@pytest.mark.postgres
def test_the_writer_makes_postgresql_partitions_ahead(pg_url: str, tmp_path: Path) -> None:
    from datetime import timedelta

    from sqlalchemy import text

    from voiceobs.results import utcnow
    from voiceobs.store.partitions import list_partitions

    store = Store.open(pg_url, create=True)
    ahead = f"spans_p{utcnow() + timedelta(days=7):%Y%m%d}"
    with store.engine.begin() as conn:
        conn.execute(text(f'DROP TABLE "{ahead}"'))
    c = Collector(store, spool=Spool(tmp_path / "spool"), settings=_fast())
    c.start()
    try:
        wait_until(
            lambda: ahead in {p.name for p in list_partitions(store, "spans")},
            what="the partition a week ahead made again",
        )
    finally:
        assert c.stop()
    store.close()
