"""The shell of a production call: a stable id, the sender, spans tagged with the call, status from turns."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.collect.otel import Tracing
from voiceobs.collect.adapters.origin import Origin
from voiceobs.collect.adapters.production import (
    fail_turn,
    production_run,
    production_run_id,
    settle_status,
)
from voiceobs.results import TurnResult, new_run_id

T = datetime(2026, 5, 4, 10, tzinfo=UTC)


def test_ids_are_stable_per_framework_and_key() -> None:
    a = production_run_id("pipecat", "4bf92f3577b34da6a3ce929d0e0e4736")
    assert a == production_run_id("pipecat", "4bf92f3577b34da6a3ce929d0e0e4736")
    assert a != production_run_id("livekit", "4bf92f3577b34da6a3ce929d0e0e4736")
    assert len(a) == len(new_run_id()) == 32


def test_the_run_carries_the_sender_and_its_spans() -> None:
    t = Tracing({"service.name": "bot"})
    with t.span(t.tracer("x"), "s", 0, 1):
        pass
    spans = t.spans()
    run = production_run(
        "pipecat",
        "k",
        Origin(service="bot", deployment="prod", region="eu", host="h", labels={"version": "1"}),
        T,
        spans=spans,
        labels={"agent": "a"},
        conversation_id="CA1",
    )
    assert (run.probe_name, run.target_url, run.source, run.framework) == (
        "bot",
        "pipecat://bot",
        "production",
        "pipecat",
    )
    assert (run.deployment, run.region, run.probe_host, run.labels) == (
        "prod",
        "eu",
        "h",
        {"version": "1", "agent": "a"},
    )
    # Attached as they arrived (the store gives them the call's id when it saves the call).
    assert run.spans == [s.record for s in spans] and spans[0].record.run_id is None
    assert production_run("vapi", "k", Origin(), T).probe_name == "vapi"


def test_status_follows_the_first_failed_turn_or_the_given_failure() -> None:
    run = production_run("generic", "k", Origin(service="b"), T)
    run.turns = [TurnResult(0), TurnResult(1)]
    assert settle_status(run).status == "ok"
    fail_turn(run.turns[1], "no_audio")
    fail_turn(run.turns[1], "timeout")  # the first class wins
    assert (run.turns[1].failure_class, settle_status(run).failure_class) == (
        "no_audio",
        "no_audio",
    )
    other = production_run("generic", "k2", Origin(service="b"), T)
    settle_status(other, ("not-a-class", "detail"))
    assert (other.status, other.failure_class, other.failure_detail) == (
        "failed",
        "internal_error",
        "detail",
    )
