"""Vapi's end-of-call report, as its docs show it, becomes one production call."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.collect.reports_payloads import CUSTOMER, VAPI_CALL_ID, VAPI_TWILIO_SID, vapi_report
from voiceobs.collect.adapters.production import production_run_id
from voiceobs.collect.adapters.vapi import VapiReport, failure_of
from voiceobs.errors import ReportError
from voiceobs.redact import Redactor


@pytest.fixture
def adapter() -> VapiReport:
    return VapiReport(Redactor(key=b"k" * 32))


def test_the_report_maps_to_a_call_with_its_turn_latencies(adapter: VapiReport) -> None:
    run = adapter.parse(vapi_report())
    assert run is not None
    assert (run.source, run.framework, run.status) == ("production", "vapi", "ok")
    assert (run.probe_name, run.service, run.target_url) == (
        "Support Line",
        "Support Line",
        "vapi://asst_9c2b",
    )
    assert run.id == production_run_id("vapi", VAPI_CALL_ID)
    assert (run.conversation_id, run.call_sid) == (VAPI_CALL_ID, VAPI_TWILIO_SID)
    assert run.started_at == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert run.finished_at == datetime(2026, 5, 4, 10, 1, 12, 500_000, tzinfo=UTC)
    assert run.labels["assistant"] == "asst_9c2b"
    assert (run.labels["interruptions"], run.labels["user_interrupted"]) == ("1", "0")
    first, second = run.turns
    assert (first.reported_latency_ms, first.stt_ttfb_ms, first.llm_ttfb_ms, first.tts_ttfb_ms,
            first.endpointing_delay_ms) == (1110, 210, 420, 180, 300)  # fmt: skip
    assert second.reported_latency_ms == 1030
    # The replies to the caller (the greeting is not a turn; two bot messages are one reply).
    assert [t.transcript for t in run.turns] == [
        "We are open nine to five.",
        "You're welcome. Goodbye!",
    ]
    assert all(t.flags == {} for t in run.turns)


def test_the_customers_number_is_never_in_the_call(adapter: VapiReport) -> None:
    run = adapter.parse(vapi_report())
    assert run is not None
    assert run.labels["customer"].startswith("[PHONE:")
    text = json.dumps(run.to_json())
    for form in (CUSTOMER, CUSTOMER[1:], "4155550123", "415 555 0123"):
        assert form not in text


def test_a_redelivered_report_is_the_same_call(adapter: VapiReport) -> None:
    a, b = adapter.parse(vapi_report()), adapter.parse(vapi_report())
    assert a is not None and b is not None and a.id == b.id
    other = vapi_report()
    other["message"]["call"]["id"] = "another-call"
    c = adapter.parse(other)
    assert c is not None and c.id != a.id


def test_implausible_turn_latencies_are_refused(adapter: VapiReport) -> None:
    body = vapi_report()
    body["message"]["artifact"]["performanceMetrics"]["turnLatencies"] = [
        {"turnLatency": 1.1, "modelLatency": -1, "voiceLatency": 180, "transcriberLatency": 95_000},
    ]
    (turn,) = adapter.parse(body).turns  # type: ignore[union-attr]
    assert turn.reported_latency_ms is None and turn.flags["reported_latency_ms"].startswith(
        "seconds_as_ms:"
    )
    assert turn.llm_ttfb_ms is None and turn.flags["llm_ttfb_ms"].startswith("negative:")
    assert turn.stt_ttfb_ms is None and turn.flags["stt_ttfb_ms"].startswith("too_long:")
    assert turn.tts_ttfb_ms == 180
    # Replies no longer match the turns one to one: no transcript is guessed.
    assert turn.transcript is None


@pytest.mark.parametrize(
    ("reason", "failure"),
    [
        ("customer-ended-call", None),
        ("assistant-ended-call", None),
        ("silence-timed-out", None),
        ("exceeded-max-duration", None),
        ("pipeline-error-openai-llm-failed", "internal_error"),
        ("assistant-error", "internal_error"),
        ("call.in-progress.error-vapifault-openai-llm-failed", "internal_error"),
        ("call.start.error-get-org", "connect_error"),
        ("twilio-failed-to-connect-call", "connect_error"),
        ("customer-did-not-answer", "connect_error"),
    ],
)
def test_ended_reasons_set_the_calls_status(
    adapter: VapiReport, reason: str, failure: str | None
) -> None:
    assert failure_of(reason) == failure
    run = adapter.parse(vapi_report(endedReason=reason))
    assert run is not None
    assert (run.status, run.failure_class) == (("failed", failure) if failure else ("ok", None))
    if failure:
        assert run.failure_detail == f"endedReason: {reason}"


def test_other_server_messages_are_not_calls(adapter: VapiReport) -> None:
    assert adapter.parse({"message": {"type": "status-update", "status": "in-progress"}}) is None
    assert adapter.parse({}) is None


def test_a_report_without_a_call_id_says_what_is_missing(adapter: VapiReport) -> None:
    body = vapi_report()
    del body["message"]["call"]["id"]
    with pytest.raises(ReportError, match=r"message\.call\.id"):
        adapter.parse(body)


def test_a_report_without_performance_metrics_is_a_call_without_turns(adapter: VapiReport) -> None:
    body = vapi_report()
    del body["message"]["artifact"]["performanceMetrics"]
    run = adapter.parse(body)
    assert run is not None and run.turns == [] and "interruptions" not in run.labels
