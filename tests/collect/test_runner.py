"""Running the collector's server: on a thread it stops like SIGTERM does; the assembler is found."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from tests.collect.conftest import TraceAssembler, json_request, json_span, span_count
from voiceobs.collect import runner
from voiceobs.collect.ingest import Collector, CollectorSettings
from voiceobs.store import Store
from voiceobs.store.spool import Spool


def test_stop_drains_and_records_open_calls_before_returning(store: Store, tmp_path: Path) -> None:
    assembler = TraceAssembler(idle_s=3600)
    collector = Collector(store, assembler=assembler, spool=Spool(tmp_path / "spool"), settings=CollectorSettings(flush_s=0.5))
    handle = runner.start(collector)
    body = orjson.dumps(json_request([json_span("ab" * 16, f"{i + 1:016x}") for i in range(50)]))
    assert httpx.post(f"{handle.url}/v1/traces", content=body, headers={"Content-Type": "application/json"}).status_code == 200
    handle.stop()
    assert not collector.alive
    assert span_count(store) == 50 and store.count_runs() == 1  # the call never ended: flushed


def test_load_assembler_builds_the_call_assembler_with_every_adapter() -> None:
    from voiceobs.collect.assembly import CallAssembler

    found = runner.load_assembler(30.0)
    assert isinstance(found, CallAssembler)
    assert [a.name for a in found.adapters] == ["pipecat", "livekit", "generic"]
    assert found.idle_timeout_s == 30.0
