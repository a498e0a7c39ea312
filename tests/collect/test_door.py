"""Redaction at the door: names, attributes by policy, events, status text and resources."""

from __future__ import annotations

import logging
import time

import orjson
import pytest

from tests.collect.conftest import json_request, json_span, kv
from voiceobs.collect import otlp
from voiceobs.collect.door import NAME_MAX, admit
from voiceobs.redact import Redactor

TRACE = "ab" * 16
PHONE_SPOKEN = "my number is four one five five five five one two one two"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(use_env=False)


def _decoded(spans: list[dict], resource: list[dict] | None = None) -> otlp.Decoded:
    request = json_request(spans)
    if resource is not None:
        request["resourceSpans"][0]["resource"]["attributes"] += resource
    return otlp.decode(orjson.dumps(request), otlp.JSON, time.time_ns())


def test_every_free_text_field_of_a_span_is_redacted(redactor: Redactor) -> None:
    span = json_span(
        TRACE,
        "1" * 16,
        name="call jane.doe@example.com",
        attributes=[
            kv("transcript", PHONE_SPOKEN),
            kv("sip.phoneNumber", "+14155551212"),
            kv("password", "hunter22"),
            kv("metrics.ttfb", 0.25),
            kv("gen_ai.prompt", '[{"role": "user", "content": "card 4111 1111 1111 1111"}]'),
        ],
        events=[{"timeUnixNano": "1", "name": "said I was born on March 3rd 1985", "attributes": [kv("text", "my social is 123-45-6789")]}],
        status={"code": 2, "message": "caller john dot smith at gmail dot com hung up"},
    )
    admitted = admit(_decoded([span], [kv("deployment.owner", "jane.doe@example.com")]), redactor)
    (s,) = admitted.spans
    r = s.record
    assert r.name == "call [EMAIL]"
    assert r.attributes["transcript"] == "my number is [PHONE]"
    assert r.attributes["sip.phoneNumber"] == "[PHONE]"
    assert "password" not in r.attributes  # the policy drops credentials
    assert r.attributes["metrics.ttfb"] == 0.25  # measures pass untouched
    assert "4111" not in r.attributes["gen_ai.prompt"] and orjson.loads(r.attributes["gen_ai.prompt"])
    assert r.events[0]["name"] == "said I was born on [DOB]"
    assert r.events[0]["attributes"]["text"] == "my social is [SSN]"
    assert r.status_message == "caller [EMAIL] hung up"
    assert s.resource["deployment.owner"] == "[EMAIL]"
    assert s.resource["service.name"] == "bot" and s.scope == "pipecat"


def test_names_are_cut_to_the_column_after_redaction(redactor: Redactor) -> None:
    admitted = admit(_decoded([json_span(TRACE, "1" * 16, name="x" * 500)]), redactor)
    assert admitted.spans[0].record.name == "x" * NAME_MAX


def test_oversized_attributes_are_truncated_with_a_marker(redactor: Redactor) -> None:
    big = "word " * 5000
    admitted = admit(_decoded([json_span(TRACE, "1" * 16, attributes=[kv("output", big)])]), redactor)
    value = admitted.spans[0].record.attributes["output"]
    assert len(value) < len(big) and "chars cut]" in value


class _Broken(Redactor):
    def redact_attributes(self, mapping):  # type: ignore[no-untyped-def, override]
        if any("boom" in str(v) for v in (mapping or {}).values()):
            raise ValueError("value boom 415-555-1212 leaked into an exception")
        return super().redact_attributes(mapping)


def test_a_span_that_cannot_be_redacted_is_dropped_counted_and_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    broken = _Broken(use_env=False)
    spans = [
        json_span(TRACE, "1" * 16, attributes=[kv("note", "boom 415-555-1212")]),
        json_span(TRACE, "2" * 16),
    ]
    with caplog.at_level(logging.DEBUG):
        admitted = admit(_decoded(spans), broken)
    assert [s.record.span_id for s in admitted.spans] == ["2" * 16]
    assert admitted.dropped == {"redaction_failed": 1}
    assert "415-555-1212" not in caplog.text and "ValueError" in caplog.text
