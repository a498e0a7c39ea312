"""Builders for realistic results, shared by store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from voiceobs.results import RunResult, SpanRecord, TurnResult

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_run(
    *,
    probe: str = "echo-loopback",
    target: str = "ws://127.0.0.1:8765/twilio",
    region: str = "local",
    started_at: datetime = T0,
    status: str = "ok",
    turns: int = 2,
    latency_ms: float = 420.0,
    with_spans: bool = True,
    trace_id: str | None = None,
) -> RunResult:
    """A call with ``turns`` turns and a small trace: run -> call -> turn spans."""
    run = RunResult(
        probe_name=probe,
        target_url=target,
        region=region,
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=5),
        status=status,
        failure_class=None if status == "ok" else "timeout",
        failure_detail=None if status == "ok" else "no reply within 5 s",
        pipeline="echo",
        protocol="twilio",
        labels={"team": "voice"},
        probe_host="probe-1",
        voiceobs_version="test",
    )
    run.trace_id = trace_id or (run.id + "0" * 32)[:32]
    for i in range(turns):
        run.turns.append(
            TurnResult(
                turn_index=i,
                prompt_id=f"p{i}",
                ok=status == "ok",
                connect_ms=12.5,
                ttfb_ms=latency_ms - 40 if status == "ok" else None,
                turn_latency_ms=latency_ms if status == "ok" else None,
                pesq_wb=3.9 if status == "ok" else None,
                stoi=0.97 if status == "ok" else None,
                wer=0.0 if status == "ok" else None,
                transcript="check my order [PHONE]",
                started_at=started_at + timedelta(seconds=i),
            )
        )
    if with_spans:
        base = int(started_at.timestamp() * 1e9)
        run.spans = [
            SpanRecord(trace_id=run.trace_id, span_id="a" * 16, name="probe.run",
                       start_ns=base, end_ns=base + 5_000_000_000),
            SpanRecord(trace_id=run.trace_id, span_id="b" * 16, parent_span_id="a" * 16,
                       name="call", start_ns=base + 1, end_ns=base + 4_000_000_000,
                       attributes={"voice.audio_seconds": 2.5}),
        ]  # fmt: skip
    return run
