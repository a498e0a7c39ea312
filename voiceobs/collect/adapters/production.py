"""The shell every production call shares: a stable id, the sender, times, spans, status.

A call is rebuilt every time spans of it arrive, and each build must carry
the same ``RunResult.id`` so the store's ``replace_run`` rewrites the call
instead of adding a second one. The id is a name-based UUID of the
framework and the conversation's key (its trace id; a platform's call id),
so it is the same in every collector process and after a restart, and can
never equal a probe's random run id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from voiceobs._version import __version__
from voiceobs.collect.adapters.origin import Origin
from voiceobs.collect.model import IngestedSpan
from voiceobs.errors import FailureClass
from voiceobs.results import RunResult, SpanRecord, TurnResult

#: Namespace of production call ids (uuid5 of "<framework>:<key>").
RUN_ID_NAMESPACE = uuid.UUID("5f0b3c64-9f47-4b64-a3a4-0c0ab5d7e2a1")

#: Failure classes a framework's own word can be mapped to.
FAILURE_CLASSES: frozenset[str] = frozenset(f.value for f in FailureClass)


def production_run_id(framework: str, key: str) -> str:
    """The id of the call ``key`` identifies within ``framework`` (same in every process)."""
    return uuid.uuid5(RUN_ID_NAMESPACE, f"{framework}:{key}").hex


def production_run(
    framework: str,
    key: str,
    origin: Origin,
    started_at: datetime,
    *,
    finished_at: datetime | None = None,
    target: str | None = None,
    trace_id: str | None = None,
    spans: Sequence[IngestedSpan] = (),
    call_sid: str | None = None,
    stream_sid: str | None = None,
    conversation_id: str | None = None,
    labels: dict[str, str] | None = None,
) -> RunResult:
    """A production call from ``framework`` with its sender and times; turns are added by the caller.

    ``probe_name`` is the service (so the dashboard groups calls by bot),
    ``target_url`` is ``<framework>://<service>``. Spans are attached as
    they arrived: the store gives a span without a run id the call's id when
    it saves the call (a copy of every span here, on every rebuild, would
    cost more than the rest of the build).
    """
    service = origin.service or framework
    run_id = production_run_id(framework, key)
    records: list[SpanRecord] = [s.record for s in spans]
    return RunResult(
        probe_name=service,
        target_url=target or f"{framework}://{service}",
        started_at=started_at,
        finished_at=finished_at,
        id=run_id,
        region=origin.region,
        labels={**origin.labels, **(labels or {})},
        probe_host=origin.host,
        voiceobs_version=__version__,
        trace_id=trace_id,
        source="production",
        framework=framework,
        service=origin.service,
        deployment=origin.deployment,
        spans=records,
        call_sid=call_sid,
        stream_sid=stream_sid,
        conversation_id=conversation_id,
    )


def settle_status(run: RunResult, failure: tuple[str, str | None] | None = None) -> RunResult:
    """Mark the call failed with ``failure`` (class, detail), else with its first failed turn's class."""
    if failure is None:
        bad = next((t for t in run.turns if not t.ok), None)
        if bad is not None:
            failure = (bad.failure_class or FailureClass.INTERNAL_ERROR.value, None)
    if failure is not None:
        run.status = "failed"
        run.failure_class = (
            failure[0] if failure[0] in FAILURE_CLASSES else FailureClass.INTERNAL_ERROR.value
        )
        run.failure_detail = failure[1]
    return run


def fail_turn(turn: TurnResult, failure_class: str = FailureClass.INTERNAL_ERROR.value) -> None:
    """Mark one turn failed (the first class given wins)."""
    if turn.ok:
        turn.ok = False
        turn.failure_class = (
            failure_class if failure_class in FAILURE_CLASSES else FailureClass.INTERNAL_ERROR.value
        )


__all__ = [
    "FAILURE_CLASSES",
    "RUN_ID_NAMESPACE",
    "fail_turn",
    "production_run",
    "production_run_id",
    "settle_status",
]
