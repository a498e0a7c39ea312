"""The webhook registry, and reports taking the real recording path into the store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.collect.reports_payloads import CUSTOMER, VAPI_TWILIO_SID, retell_event, vapi_report
from voiceobs.collect import reports
from voiceobs.collect.reports import ADAPTERS
from voiceobs.errors import ReportError
from voiceobs.recording import record
from voiceobs.results import RunResult, TurnResult
from voiceobs.store import Store
from voiceobs.store.models import ProbeRun, Turn


def test_the_registry_names_each_platform_by_its_webhook() -> None:
    assert set(ADAPTERS) == {"vapi", "retell"}
    assert all(a.name == name for name, a in ADAPTERS.items())
    vapi = ADAPTERS["vapi"].parse(vapi_report())
    retell = ADAPTERS["retell"].parse(retell_event())
    assert vapi is not None and vapi.framework == "vapi"
    assert retell is not None and retell.framework == "retell"
    # A platform's message that is not an end-of-call report is no call (the webhook says 200, ignores it).
    assert ADAPTERS["vapi"].parse({"message": {"type": "hang"}}) is None


def test_redelivered_reports_are_one_call_each_in_the_store_with_no_phone_number(
    store: Store,
) -> None:
    for _ in range(2):  # platforms retry deliveries
        runs = [ADAPTERS["vapi"].parse(vapi_report()), ADAPTERS["retell"].parse(retell_event())]
        record([r for r in runs if r is not None], store=store, replace=True)
    assert store.count_runs() == 2
    with store.session() as s:
        rows = list(s.scalars(select(ProbeRun)))
        turns = list(s.scalars(select(Turn)))
    assert sorted(r.framework for r in rows) == ["retell", "vapi"]
    assert all(r.source == "production" for r in rows)
    assert len(turns) == 2 + 3
    vapi = next(r for r in rows if r.framework == "vapi")
    stored = store.get_run(vapi.id)
    assert stored is not None
    assert [t.reported_latency_ms for t in stored.turns] == [1110, 1030]
    dump = repr([(r.labels, r.failure_detail) for r in rows]) + repr([t.transcript for t in turns])
    assert CUSTOMER not in dump and "4155550123" not in dump


def test_a_probe_call_joins_the_platforms_record_of_it_by_call_sid(store: Store) -> None:
    report = ADAPTERS["vapi"].parse(vapi_report())
    assert report is not None
    record([report], store=store, replace=True)
    probe = RunResult(
        probe_name="p",
        target_url="ws://127.0.0.1:9/twilio",
        started_at=report.started_at + timedelta(seconds=2),
        call_sid=VAPI_TWILIO_SID,
    )
    probe.turns = [TurnResult(0, turn_latency_ms=1300.0), TurnResult(1, turn_latency_ms=1100.0)]
    record([probe], store=store)
    row = store.get_run(probe.id)
    assert row is not None and row.joined_run_id == report.id
    assert [t.unseen_latency_ms for t in row.turns] == [pytest.approx(190.0), pytest.approx(70.0)]


MALFORMED = [
    [],
    "end-of-call-report",
    {"message": "end-of-call-report"},
    {"message": {"type": "end-of-call-report", "call": "c1"}},
    {"message": {"type": "end-of-call-report", "call": {"id": ["x"]}}},
    {"message": {"type": "end-of-call-report", "call": {"id": "c1"}, "artifact": {"performanceMetrics": {
        "turnLatencies": [None, "fast", {"turnLatency": "900"}, {"turnLatency": True}]}, "messages": "hi"}}},
    {"message": {"type": "end-of-call-report", "call": {"id": "c1"}, "startedAt": "yesterday", "endedAt": 1e300}},
    {"event": "call_analyzed", "call": None},
    {"event": "call_analyzed", "call": {"call_id": "r1", "latency": {"e2e": {"values": "800"}}}},
    {"event": "call_analyzed", "call": {"call_id": "r1", "latency": {"e2e": {"values": [800, None, "x"]}},
                                        "transcript_object": [1, {"role": "agent"}], "start_timestamp": -5}},
]  # fmt: skip


@pytest.mark.parametrize("payload", MALFORMED)
@pytest.mark.parametrize("name", ["vapi", "retell"])
def test_malformed_reports_are_a_report_error_or_nothing_never_a_crash(
    name: str, payload: object
) -> None:
    try:
        run = ADAPTERS[name].parse(payload)  # type: ignore[arg-type]
    except ReportError as err:
        assert str(err) and "\n" not in str(err)
    else:
        if run is not None:
            assert run.id and run.started_at.tzinfo is not None
            assert all(
                t.reported_latency_ms is None or isinstance(t.reported_latency_ms, float | int)
                for t in run.turns
            )


class _Stub:
    name = "vapi"

    def parse(self, payload: Mapping[str, Any]) -> RunResult | None:
        return None


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(reports.ADAPTERS)
    reports.ADAPTERS.clear()
    try:
        yield
    finally:
        reports.ADAPTERS.clear()
        reports.ADAPTERS.update(saved)


def test_register_and_look_up_by_platform(clean_registry: None) -> None:
    stub = _Stub()
    reports.register(stub)
    assert reports.adapter_for("vapi") is stub
    assert reports.adapter_for("nobody") is None
    assert set(reports.PLATFORMS) == {"vapi", "retell"}
