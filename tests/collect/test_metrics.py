"""The collector's series live in their own registry and add up per name."""

from __future__ import annotations

from prometheus_client import REGISTRY

from voiceobs.collect.metrics import CollectorMetrics


def test_private_registries_and_totals() -> None:
    a, b = CollectorMetrics(), CollectorMetrics()  # two collectors in one process, no clash
    a.spans_dropped.labels("invalid_trace_id").inc(2)
    a.spans_dropped.labels("spool_failed").inc(3)
    a.spans_stored.inc(7)
    assert a.totals()["spans_dropped"] == 5 and a.totals()["spans_stored"] == 7
    assert b.totals()["spans_stored"] == 0
    assert REGISTRY.get_sample_value("voiceobs_collect_spans_stored_total") is None
    depth = [4]
    a.watch(lambda: depth[0], lambda: 2, lambda: 1)
    assert a.registry.get_sample_value("voiceobs_collect_queue_depth") == 4
    depth[0] = 9
    assert a.registry.get_sample_value("voiceobs_collect_queue_depth") == 9  # read at scrape time
    assert a.registry.get_sample_value("voiceobs_collect_spool_depth", {"kind": "calls"}) == 1
