"""Redaction at the door: names, attributes by policy, events, status text and resources."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import orjson
import pytest

from tests.collect.conftest import json_request, json_span, kv
from voiceobs.collect import otlp
from voiceobs.collect.door import NAME_MAX, admit
from voiceobs.redact import Redactor
from voiceobs.store import Store

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


# -- end to end: through the real HTTP endpoint, into every table, spool file and log line ------

WRITTEN_AND_SPOKEN = {
    "transcript": "hi, my number is four one five, five five five, twelve twelve and my email is john dot smith at gmail dot com",
    "gen_ai.prompt": '[{"role": "user", "content": "my card is 4111 1111 1111 1111 and I was born on March 3rd 1985"}]',
    "lk.pii.user_input": "I live at 42 Wallaby Way, Sydney, my social is 123-45-6789",
    "sip.phoneNumber": "+14155551212",
    "output": "Thanks Jane, I sent it to jane.doe@example.com",
    "http.url": "https://api.example.com/call?token=sk-live-9f8e7d6c5b4a&email=jane.doe@example.com",
    "password": "hunter22-secret",
}
NEEDLES = [
    "five five five", "twelve twelve", "john dot smith", "gmail", "4111", "March 3rd", "1985",
    "Wallaby", "123-45-6789", "4155551212", "jane.doe", "example.com/call?token=sk-live", "sk-live-9f8e7d6c5b4a",
    "hunter22",
]  # fmt: skip


def _dirty_json_request(trace_id: str) -> bytes:
    attrs = [kv(k, v) for k, v in WRITTEN_AND_SPOKEN.items()]
    turn = json_span(
        trace_id, "1" * 16, name="turn for jane.doe@example.com", parentSpanId="2" * 16,
        attributes=attrs,
        events=[{"timeUnixNano": "1", "name": "caller said four one five five five five one two one two",
                 "attributes": [kv("text", "I was born on March 3rd 1985")]}],
        status={"code": 2, "message": "hung up after reading 4111 1111 1111 1111"},
    )  # fmt: skip
    conversation = json_span(trace_id, "2" * 16, name="conversation")
    request = json_request([turn, conversation])
    request["resourceSpans"][0]["resource"]["attributes"].append(kv("deployment.owner", "jane.doe@example.com"))
    return orjson.dumps(request)


def _send_dirty(url: str) -> None:
    import httpx

    from tests.collect.conftest import sdk_sender

    r = httpx.post(f"{url}/v1/traces", content=_dirty_json_request(uuid.uuid4().hex), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    provider, _ = sdk_sender(url, resource={"enduser.email": "jane.doe@example.com"})
    tracer = provider.get_tracer("livekit-agents")
    with tracer.start_as_current_span("conversation"), tracer.start_as_current_span("turn") as turn:
        for key, value in WRITTEN_AND_SPOKEN.items():
            turn.set_attribute(key, value)
        turn.add_event("stt", {"text": "my number is four one five five five five one two one two"})
    provider.shutdown()


def _every_row(store: Store) -> str:
    from sqlalchemy import inspect, text

    with store.engine.connect() as c:
        # Every value in full (a Row's repr cuts long strings, which could hide a leak).
        return "\n".join(
            " | ".join(str(v) for v in row)
            for table in inspect(c).get_table_names()
            for row in c.execute(text(f'SELECT * FROM "{table}"'))
        )


def _found(needle: str, haystack: str) -> list[str]:
    """Where ``needle`` occurs, with context; a short number only as a token of its own.

    "4111" or "1985" inside a hex id or a nanosecond timestamp (which hold such digit runs by
    chance in about one run in four) is not the card number or the year a caller said.
    """
    import re

    pattern = re.escape(needle)
    if needle.isdigit() and len(needle) <= 4:
        pattern = rf"(?<![0-9A-Za-z]){pattern}(?![0-9A-Za-z])"
    return [haystack[max(0, m.start() - 40) : m.end() + 40] for m in re.finditer(pattern, haystack, re.I)]


def _clean(where: str, haystack: str) -> None:
    found = {n: _found(n, haystack) for n in NEEDLES}
    leaks = {n: places for n, places in found.items() if places}
    assert not leaks, f"{where} holds raw personal data: {leaks}"


@pytest.mark.parametrize("decoders", [0, 1], ids=["decoded-in-process", "decoder-process"])
def test_pii_sent_to_the_endpoint_reaches_no_table_spool_file_or_log_line(
    store: Store,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    decoders: int,
) -> None:
    from tests.collect.conftest import TraceAssembler, wait_until
    from voiceobs.collect import runner
    from voiceobs.collect.ingest import Collector, CollectorSettings
    from voiceobs.collect.server import CollectConfig
    from voiceobs.store.spool import Spool

    config = CollectConfig(decode_processes=decoders)

    settings = CollectorSettings(flush_s=0.02, retry_s=0.2)
    spool = Spool(tmp_path / "spool")
    caplog.set_level(logging.DEBUG)
    # 1. The store is down: spans and calls go to the spool.
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    first = Collector(down, assembler=TraceAssembler(), spool=spool, settings=settings)
    with runner.running(first, config) as handle:
        _send_dirty(handle.url)
        wait_until(lambda: len(spool.pending()) == 2 and first.span_spool.depth() >= 1, what="spooled")
    files = [p.read_text() for p in [*spool.pending(), *first.span_spool.pending()]]
    _clean("the spool", "\n".join(files))
    assert "[PHONE" in "".join(files) and "[EMAIL" in "".join(files)  # the data got there, redacted
    # 2. The store is back: the spool is replayed and new traffic goes straight in.
    second = Collector(store, assembler=TraceAssembler(), spool=spool, settings=settings)
    with runner.running(second, config) as handle:
        wait_until(lambda: not spool.pending() and second.span_spool.depth() == 0, what="replayed")
        _send_dirty(handle.url)
        wait_until(lambda: store.count_runs() == 4, what="every call stored")
    rows = _every_row(store)
    _clean("the store (runs, turns, spans)", rows)
    import re

    kinds = set(re.findall(r"\[([A-Z]+)[:\]]", rows))
    assert {"PHONE", "EMAIL", "CARD", "SSN", "DOB", "ADDRESS"} <= kinds, kinds
    turns = [t.transcript for r in store.list_runs() for t in getattr(store.get_run(r.id), "turns", [])]
    assert any(t and "[PHONE" in t for t in turns), "the transcripts reached the turns, redacted"
    _clean("the log", caplog.text)
    assert "store unavailable, spooling" in caplog.text  # the log was captured at all
    out, err = capfd.readouterr()  # what any process wrote, decoder processes included
    _clean("stdout and stderr", out + err)
