"""Retell's ``call_analyzed`` event, as its docs show it, becomes one production call."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.collect.reports_payloads import CUSTOMER, RETELL_CALL_ID, RETELL_TWILIO_SID, retell_event
from voiceobs.collect.adapters.production import production_run_id
from voiceobs.collect.adapters.retell import RetellReport, failure_of
from voiceobs.errors import ReportError
from voiceobs.redact import Redactor


@pytest.fixture
def adapter() -> RetellReport:
    return RetellReport(Redactor(key=b"k" * 32))


def test_the_event_maps_to_a_call_with_one_turn_per_e2e_value(adapter: RetellReport) -> None:
    run = adapter.parse(retell_event())
    assert run is not None
    assert (run.source, run.framework, run.status) == ("production", "retell", "ok")
    assert (run.service, run.target_url) == (
        "Front Desk",
        "retell://oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD",
    )
    assert run.id == production_run_id("retell", RETELL_CALL_ID)
    assert (run.conversation_id, run.call_sid) == (RETELL_CALL_ID, RETELL_TWILIO_SID)
    assert run.started_at == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert run.finished_at == datetime(2026, 5, 4, 10, 1, tzinfo=UTC)
    assert {k: run.labels[k] for k in ("agent", "call_type", "direction")} == {
        "agent": "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD", "call_type": "phone_call", "direction": "inbound",
    }  # fmt: skip
    assert [t.reported_latency_ms for t in run.turns] == [800, 1500, 500]
    assert [t.stt_ttfb_ms for t in run.turns] == [150, 200, 100]
    assert [t.tts_ttfb_ms for t in run.turns] == [120, 170, 90]
    # Four LLM values for three turns (a tool call): which is whose cannot be told.
    assert [t.llm_ttfb_ms for t in run.turns] == [None, None, None]
    assert [t.transcript for t in run.turns] == [
        "Booked for Tuesday at ten.",
        "Anytime.",
        "Goodbye.",
    ]


def test_phone_numbers_become_pseudonyms(adapter: RetellReport) -> None:
    run = adapter.parse(retell_event())
    assert run is not None
    assert run.labels["from"].startswith("[PHONE:") and run.labels["to"].startswith("[PHONE:")
    assert run.labels["from"] != run.labels["to"]
    text = json.dumps(run.to_json())
    assert CUSTOMER not in text and "4155550123" not in text


def test_call_ended_describes_the_same_call(adapter: RetellReport) -> None:
    ended = adapter.parse(retell_event("call_ended", call_analysis=None))
    analyzed = adapter.parse(retell_event())
    assert ended is not None and analyzed is not None and ended.id == analyzed.id
    assert adapter.parse(retell_event("call_started")) is None
    assert adapter.parse({"event": "transcript_updated", "call": {"call_id": "x"}}) is None


def test_a_payload_with_percentiles_only_has_no_turns(adapter: RetellReport) -> None:
    legacy = retell_event(
        latency=None, e2e_latency={"p50": 800, "p90": 1200, "max": 1500, "min": 500, "num": 3}
    )
    run = adapter.parse(legacy)
    assert run is not None and run.turns == []


def test_implausible_values_are_refused(adapter: RetellReport) -> None:
    body = retell_event()
    body["call"]["latency"]["e2e"]["values"] = [0.8, 75_000, 900]
    run = adapter.parse(body)
    assert run is not None
    first, second, third = run.turns
    assert first.reported_latency_ms is None and first.flags["reported_latency_ms"].startswith(
        "seconds_as_ms:"
    )
    assert second.reported_latency_ms is None and second.flags["reported_latency_ms"].startswith(
        "too_long:"
    )
    assert third.reported_latency_ms == 900 and third.flags == {}


@pytest.mark.parametrize(
    ("reason", "failure"),
    [
        ("user_hangup", None),
        ("agent_hangup", None),
        ("call_transfer", None),
        ("inactivity", None),
        ("voicemail_reached", None),
        ("max_duration_reached", None),
        ("dial_no_answer", "connect_error"),
        ("dial_failed", "connect_error"),
        ("error_twilio", "connect_error"),
        ("error_no_audio_received", "no_audio"),
        ("error_llm_websocket_lost_connection", "internal_error"),
        ("error_retell", "internal_error"),
    ],
)
def test_disconnection_reasons_set_the_calls_status(
    adapter: RetellReport, reason: str, failure: str | None
) -> None:
    assert failure_of(reason) == failure
    run = adapter.parse(retell_event(disconnection_reason=reason))
    assert run is not None
    assert (run.status, run.failure_class) == (("failed", failure) if failure else ("ok", None))


def test_an_event_without_a_call_id_says_what_is_missing(adapter: RetellReport) -> None:
    body = retell_event()
    del body["call"]["call_id"]
    with pytest.raises(ReportError, match=r"call\.call_id"):
        adapter.parse(body)
