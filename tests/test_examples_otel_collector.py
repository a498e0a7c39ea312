"""probes/otel-collector.yaml: the fan-in path is wired as the collector expects, and its largest
batch, shaped as the Collector's ``otlphttp`` exporter sends it, is accepted by a real ``voiceobs collect``.

No OpenTelemetry Collector binary runs here, so the config is checked for
what would break the path silently: a component the pipeline names but does
not define, an exporter aimed at another port or encoding than voiceobs
speaks, and a batch ceiling that a busy fleet would push over the body limit.
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.helpers import command, free_port, wait_http
from voiceobs.cli.collect import _DEFAULTS
from voiceobs.cli.params import ByteSize
from voiceobs.store import Store

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "probes" / "otel-collector.yaml").read_text())


def _exporter() -> dict[str, Any]:
    (name,) = CONFIG["service"]["pipelines"]["traces"]["exporters"]
    assert name.split("/")[0] == "otlphttp", name
    return dict(CONFIG["exporters"][name])


def test_every_component_the_pipeline_names_is_defined() -> None:
    for pipeline in CONFIG["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            for name in pipeline.get(kind, []):
                assert name in CONFIG[kind], f"{kind} {name} used but not defined"
    # The memory limiter must come first and the batch last, as the Collector's docs require.
    processors = CONFIG["service"]["pipelines"]["traces"]["processors"]
    assert processors[0].startswith("memory_limiter") and processors[-1].startswith("batch")


def test_the_exporter_speaks_what_voiceobs_collect_serves() -> None:
    exporter = _exporter()
    url = urlsplit(exporter["endpoint"])
    assert url.scheme == "http" and url.port == 4318 and url.path in ("", "/")
    assert exporter["encoding"] == "proto" and exporter["compression"] == "gzip"
    # voiceobs answers 429/503 with Retry-After: the exporter must retry, not drop.
    assert exporter["retry_on_failure"]["enabled"] is True
    assert exporter["sending_queue"]["enabled"] is True


def _span(i: int, trace_id: bytes) -> Span:
    # A turn span about as heavy as a production bot's: a transcript, an LLM output, SIP ids.
    attrs = {
        "transcript": "I would like to move my appointment to Thursday afternoon please " * 4,
        "output": "Of course. I have moved your appointment to Thursday at three. " * 8,
        "conversation.id": f"CA{i:032x}",
        "turn.user_bot_latency_seconds": 0.8,
    }
    kv = [
        KeyValue(
            key=k,
            value=AnyValue(double_value=v) if isinstance(v, float) else AnyValue(string_value=v),
        )
        for k, v in attrs.items()
    ]
    t0 = time.time_ns() - 10**9
    return Span(
        trace_id=trace_id, span_id=(i + 1).to_bytes(8, "big"), name="turn",
        start_time_unix_nano=t0, end_time_unix_nano=t0 + 10**8, attributes=kv,
    )  # fmt: skip


def test_the_largest_batch_fits_the_default_body_limit(tmp_path: Path) -> None:
    batch = CONFIG["processors"]["batch"]
    most = int(batch["send_batch_max_size"])
    assert most >= int(batch["send_batch_size"])
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    trace_id = os.urandom(16)
    scope.spans.extend(_span(i, trace_id) for i in range(most))
    body = request.SerializeToString()
    limit = ByteSize().convert(_DEFAULTS["body"], None, None)
    # Decompressed size is what the body limit applies to; keep head-room for heavier bots.
    assert len(body) * 2 < limit, (len(body), limit)

    db = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(db, create=True).close()
    port = free_port()
    env = {"VOICEOBS_DATA_DIR": str(tmp_path / "data")}
    with command("collect", "--port", str(port), "--db", db, env=env) as proc:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc, 60.0)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/traces",
            content=gzip.compress(body),
            headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            timeout=60,
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-protobuf"


@pytest.mark.parametrize("kind", ["receivers", "processors", "exporters"])
def test_no_component_is_defined_and_left_unused(kind: str) -> None:
    used = {n for p in CONFIG["service"]["pipelines"].values() for n in p.get(kind, [])}
    assert set(CONFIG[kind]) == used
