"""A probe run: place a spec's calls, then measure, score and classify them into ``RunResult``s.

This is one stage of the data flow and nothing more: it returns raw results
and never redacts, stores, spools or exports them (``voiceobs.recording``
does that, the same way for every source of calls).

The order inside is deliberate. Calls run first, N at a time on one event
loop, doing nothing but sending, receiving and stamping. Only when every call
has hung up are measures computed and replies scored, so a PESQ pass can
never delay another call's frames. A failed call is a result like any other,
with its failure class.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, Span

from voiceobs._version import __version__
from voiceobs.errors import AudioError, FailureClass, ProbeError
from voiceobs.probe.call import CallPlan, CallRecord, TurnKind, TurnPlan, TurnRecord, place_call
from voiceobs.probe.measure import measure_turn, reply_audio
from voiceobs.probe.pacing import phase_for
from voiceobs.probe.prompts import Prompt, load_prompt
from voiceobs.probe.protocols import wire_for
from voiceobs.probe.realtime import realtime_scheduling
from voiceobs.probe.scoring import (
    intent_verdict,
    keyword_failure_detail,
    keywords_missing,
    score_reply,
)
from voiceobs.probe.spec import Caller, Expect, ProbeSpec
from voiceobs.results import RunResult, TurnResult, utcnow
from voiceobs.tracing import InMemoryCollector, inject_traceparent, setup_tracing, spans_to_records

log = logging.getLogger(__name__)

#: Called after each call finishes (for progress bars): (done, total, result-so-far ok?).
Progress = Callable[[int, int, bool], None]


@dataclass(frozen=True)
class Share:
    """The calls one of several probe processes places: every ``of``-th call from ``index``.

    Calls are dealt round-robin, so each process's share starts as early in
    the spec's order as any other's, and its share of the spec's concurrency
    is as even as the counts allow (the first ``concurrency % of`` processes
    run one call more at a time).
    """

    index: int
    of: int

    def calls(self, total: int) -> range:
        """The spec's call indices this share places, in order."""
        return range(self.index, total, self.of)

    def concurrency(self, concurrency: int) -> int:
        """How many of this share's calls run at once, out of the whole run's ``concurrency``."""
        return max(1, concurrency // self.of + (1 if self.index < concurrency % self.of else 0))


@dataclass
class _CallOutcome:
    index: int
    started_at: datetime
    record: CallRecord | None
    error: ProbeError | None
    root: Span
    call_span: Span
    turn_spans: list[trace.SpanContext] = field(default_factory=list)
    call_sid: str | None = None
    stream_sid: str | None = None


@dataclass(frozen=True)
class PlannedTurn:
    """One turn of a call as results count them: a spec turn, its interruption, or the greeting.

    A spec turn with ``barge_in:`` becomes two: the turn whose reply is
    interrupted, then the interruption, whose reply is a normal turn.
    """

    kind: TurnKind
    expect: Expect
    prompt: str | None = None
    wav: str | None = None
    dtmf: str = ""
    dtmf_gap_ms: int = 200
    reference: str = "none"
    golden: str | None = None
    end_silence_ms: int = 800
    max_reply_s: float = 15.0
    pause_ms: int = 200
    caller: Caller | None = None
    interrupt_after_ms: int | None = None
    deadline_ms: int = 2000


def planned_turns(spec: ProbeSpec) -> list[PlannedTurn]:
    """The turns one call of ``spec`` runs, in order."""
    out: list[PlannedTurn] = []
    if spec.greeting is not None:
        g = spec.greeting
        out.append(PlannedTurn("greeting", g.expect, end_silence_ms=g.end_silence_ms, max_reply_s=g.max_reply_s))
    for t in spec.turns:
        caller = spec.caller_for(t)
        b = t.barge_in
        out.append(
            PlannedTurn(
                "dtmf" if t.dtmf is not None else "prompt",
                t.expect,
                prompt=t.prompt,
                wav=t.wav,
                dtmf=t.dtmf or "",
                dtmf_gap_ms=t.dtmf_gap_ms,
                reference=t.reference,
                golden=t.golden,
                end_silence_ms=t.end_silence_ms,
                max_reply_s=t.max_reply_s,
                pause_ms=t.pause_ms,
                caller=caller,
                interrupt_after_ms=b.after_ms if b is not None else None,
            )
        )
        if b is not None:
            out.append(
                PlannedTurn(
                    "barge_in",
                    b.expect,
                    prompt=b.prompt,
                    wav=b.wav,
                    end_silence_ms=t.end_silence_ms,
                    max_reply_s=t.max_reply_s,
                    pause_ms=t.pause_ms,
                    caller=caller,
                    deadline_ms=b.deadline_ms,
                )
            )
    return out


def _prompts(spec: ProbeSpec, turns: list[PlannedTurn]) -> list[Prompt | None]:
    base = Path(spec.source).parent if spec.source else Path.cwd()
    voice = spec.prompt_voice
    prompts: list[Prompt | None] = []
    for turn in turns:
        if turn.prompt is None and turn.wav is None:
            prompts.append(None)
            continue
        wav = None
        if turn.wav is not None:
            wav = Path(turn.wav) if Path(turn.wav).is_absolute() else base / turn.wav
        prompts.append(
            load_prompt(
                text=turn.prompt,
                wav=wav,
                sample_rate=spec.sample_rate,
                protocol=spec.protocol,
                voice=voice,
                caller=turn.caller,
            )
        )
    return prompts


def _golden(spec: ProbeSpec, turn: PlannedTurn) -> np.ndarray | None:
    if turn.reference != "golden" or not turn.golden:
        return None
    base = Path(spec.source).parent if spec.source else Path.cwd()
    path = Path(turn.golden) if Path(turn.golden).is_absolute() else base / turn.golden
    import soundfile as sf

    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types
        raise AudioError(f"cannot read golden reply {path}: {exc}") from None
    mono = audio.mean(axis=1)
    if rate != spec.sample_rate:
        from voiceobs.audio.resample import resample

        mono = resample(mono, int(rate), spec.sample_rate)
    return np.asarray(mono, np.float32)


def _plan(
    spec: ProbeSpec, turns: list[PlannedTurn], prompts: list[Prompt | None], index: int, count: int
) -> CallPlan:
    dead_air = spec.dead_air.max_ms / 1000.0 if spec.dead_air.max_ms is not None else None
    return CallPlan(
        url=spec.target,
        turns=[
            TurnPlan(
                prompt=p,
                end_silence_s=t.end_silence_ms / 1000.0,
                max_reply_s=t.max_reply_s,
                pause_s=t.pause_ms / 1000.0,
                kind=t.kind,
                interrupt_after_s=t.interrupt_after_ms / 1000.0 if t.interrupt_after_ms is not None else None,
                deadline_s=t.deadline_ms / 1000.0,
                dtmf=t.dtmf,
                dtmf_gap_s=t.dtmf_gap_ms / 1000.0,
                dead_air_limit_s=dead_air,
            )
            for p, t in zip(prompts, turns, strict=True)
        ],
        connect_timeout_s=spec.timeouts.connect_s,
        first_audio_timeout_s=spec.timeouts.first_audio_s,
        call_timeout_s=spec.timeouts.call_s,
        silence_threshold_dbfs=spec.silence_threshold_dbfs,
        params=dict(spec.parameters),
        phase_s=phase_for(index, count),
    )


async def _run_calls(
    spec: ProbeSpec,
    turns: list[PlannedTurn],
    prompts: list[Prompt | None],
    tracer: trace.Tracer,
    concurrency: int,
    progress: Progress | None,
    realtime: bool = False,
    share: Share | None = None,
) -> list[_CallOutcome]:
    indices = share.calls(spec.total_calls) if share is not None else range(spec.total_calls)
    total = len(indices)
    # Each call's phase on the 20 ms grid is its place among this process's
    # calls: the clock that paces it is this process's own.
    position = {index: i for i, index in enumerate(indices)}
    gate = asyncio.Semaphore(concurrency)
    outcomes: list[_CallOutcome] = []
    done = 0

    async def one(index: int) -> None:
        nonlocal done
        async with gate:
            started_at = utcnow()
            root = tracer.start_span(
                "probe.run",
                attributes={
                    "voiceobs.probe": spec.name,
                    "voiceobs.target": spec.target,
                    "voiceobs.realtime": realtime,
                    "voiceobs.protocol": spec.protocol,
                    "voiceobs.region": spec.region,
                    "voiceobs.call_index": index,
                },
            )
            root_ctx = trace.set_span_in_context(root)
            call_span = tracer.start_span("call", context=root_ctx)
            call_ctx = trace.set_span_in_context(call_span)
            carrier = inject_traceparent(call_ctx)
            records: list[CallRecord] = []
            error: ProbeError | None = None
            token = otel_context.attach(call_ctx)
            wire = wire_for(spec.protocol)
            try:
                await place_call(
                    _plan(spec, turns, prompts, position[index], concurrency),
                    wire,
                    traceparent=carrier.get("traceparent"),
                    tracer=tracer,
                    record=records,
                )
            except ProbeError as exc:
                error = exc
            except Exception as exc:  # a probe bug still yields a stored result
                log.exception("probe call crashed")
                error = ProbeError(FailureClass.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
            finally:
                otel_context.detach(token)
            if error is not None:
                call_span.set_status(trace.StatusCode.ERROR, error.failure_class.value)
                call_span.set_attribute("voice.failure_class", error.failure_class.value)
            rec = records[0] if records else None
            if rec is not None and rec.connect_ms is not None:
                call_span.set_attribute("voice.connect_ms", rec.connect_ms)
            call_span.end()
            outcome = _CallOutcome(index, started_at, rec, error, root, call_span)
            # The SIDs the bot was given: how its own record of this call finds ours.
            outcome.call_sid = getattr(wire, "call_sid", None) or getattr(wire, "call_id", None)
            outcome.stream_sid = getattr(wire, "stream_sid", None)
            outcomes.append(outcome)
            done += 1
            if progress is not None:
                progress(done, total, error is None)

    await asyncio.gather(*(one(i) for i in indices))
    outcomes.sort(key=lambda o: o.index)
    return outcomes


def _build_result(
    spec: ProbeSpec, turns: list[PlannedTurn], outcome: _CallOutcome, tracer: trace.Tracer
) -> RunResult:
    """Measure, score and classify one call; end its root span."""
    rec, error = outcome.record, outcome.error
    result = RunResult(
        probe_name=spec.name,
        target_url=spec.target,
        started_at=outcome.started_at,
        region=spec.region,
        pipeline=spec.pipeline,
        protocol=spec.protocol,
        labels=dict(spec.labels),
        probe_host=socket.gethostname(),
        voiceobs_version=__version__,
        trace_id=format(outcome.root.get_span_context().trace_id, "032x"),
        source="synthetic",
        framework="voiceobs",
        call_sid=outcome.call_sid,
        stream_sid=outcome.stream_sid,
    )
    failure: tuple[FailureClass, str] | None = (
        (error.failure_class, str(error)) if error is not None else None
    )
    # A turn the call never reached fails with the call's own class.
    unreached = failure[0] if failure else FailureClass.INTERNAL_ERROR
    root_ctx = trace.set_span_in_context(outcome.root)
    turn_records = rec.turns if rec is not None else []
    for i, planned in enumerate(turns):
        turn = turn_records[i] if i < len(turn_records) else None
        tr = _measured_turn(spec, planned, i, outcome, turn)
        if turn is None or turn.failure is not None or turn.rx_end is None:
            tr.ok = False
            tr.failure_class = (turn.failure if turn and turn.failure else unreached).value
            continue_with = None
        else:
            assert rec is not None
            continue_with = _dynamics_failure(spec, planned, i, tr)
            if continue_with is None:
                _score_turn(spec, planned, rec, turn, tr, tracer, root_ctx)
                floor = _quality_failure(spec, planned, i, tr, turn.marks)
                if floor is not None:
                    continue_with = (FailureClass.QUALITY_ERROR, floor)
        if continue_with is not None:
            tr.ok, tr.failure_class = False, continue_with[0].value
            if failure is None:
                failure = continue_with
        result.turns.append(tr)
    if failure is not None:
        result.status = "failed"
        result.failure_class = failure[0].value
        result.failure_detail = failure[1]
        outcome.root.set_status(trace.StatusCode.ERROR, failure[0].value)
        outcome.root.set_attribute("voice.failure_class", failure[0].value)
    result.finished_at = utcnow()
    outcome.root.end()
    return result


def _measured_turn(
    spec: ProbeSpec, planned: PlannedTurn, index: int, outcome: _CallOutcome, turn: TurnRecord | None
) -> TurnResult:
    """A turn's result with its timing measures (from the call's stamps) and expectations."""
    tr = TurnResult(
        turn_index=index,
        started_at=outcome.started_at,
        expected_text=planned.expect.text,
        intent=planned.expect.intent,
        kind=planned.kind,
    )
    if planned.caller is not None:
        tr.caller = dict(planned.caller.describe())
        tr.snr_db = planned.caller.snr_db
    rec = outcome.record
    if rec is None:
        return tr
    if index == 0:
        tr.connect_ms = rec.connect_ms
    if turn is not None:
        tr.prompt_id = turn.prompt.key if turn.prompt is not None else planned.kind
        if turn.prompt is not None and turn.prompt.snr_db is not None:
            tr.caller["measured_snr_db"] = round(turn.prompt.snr_db, 2)
        measured = measure_turn(
            rec,
            turn,
            loopback=planned.reference == "prompt",
            dead_air_threshold_ms=spec.dead_air.threshold_ms,
        )
        for name, value in measured.items():
            setattr(tr, name, value)
    return tr


def _dynamics_failure(
    spec: ProbeSpec, planned: PlannedTurn, index: int, tr: TurnResult
) -> tuple[FailureClass, str] | None:
    """Why a turn that was heard to its end still fails: a slow greeting, dead air, an ignored barge-in."""
    n = index + 1
    greeting_limit = spec.greeting.max_ms if spec.greeting is not None else None
    greeting = tr.greeting_ms
    if planned.kind == "greeting" and greeting_limit is not None and greeting is not None and greeting > greeting_limit:
        return FailureClass.SLOW_GREETING, f"greeting_ms {greeting:.0f} above the limit {greeting_limit} ms"
    stop = tr.barge_in_stop_ms
    if planned.kind == "barge_in" and stop is not None and stop > planned.deadline_ms:
        return (
            FailureClass.BARGE_IN_IGNORED,
            f"the bot still spoke {stop:.0f} ms after the caller interrupted it in turn {n} "
            f"(deadline {planned.deadline_ms} ms)",
        )
    limit = spec.dead_air.max_ms
    if limit is not None and tr.dead_air_max_ms is not None and tr.dead_air_max_ms > limit:
        return (
            FailureClass.DEAD_AIR,
            f"the reply in turn {n} fell silent for {tr.dead_air_max_ms:.0f} ms (dead_air.max_ms {limit})",
        )
    return None


def _score_turn(
    spec: ProbeSpec,
    spec_turn: PlannedTurn,
    rec: CallRecord,
    turn: TurnRecord,
    tr: TurnResult,
    tracer: trace.Tracer,
    root_ctx: otel_context.Context,
) -> None:
    metrics = list(spec.metrics)
    for m in spec.min_scores:
        if m not in metrics:
            metrics.append(m)
    if spec_turn.expect.text and "wer" not in metrics:
        metrics.append("wer")
    need_transcript = bool(spec_turn.expect.keywords) or spec_turn.expect.max_wer is not None
    if not metrics and not need_transcript:
        return
    loopback = spec_turn.reference == "prompt"
    reference = turn.prompt.audio if loopback and turn.prompt is not None else _golden(spec, spec_turn)
    parent = turn.span_context
    ctx = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else root_ctx
    with tracer.start_as_current_span("score", context=ctx) as span:
        scores = score_reply(
            reply_audio(rec, turn, loopback=loopback),
            rec.sample_rate,
            metrics=metrics,
            reference=reference,
            expected_text=spec_turn.expect.text,
            need_transcript=need_transcript,
        )
        for name, value in scores.values.items():
            setattr(tr, name, value)
            span.set_attribute(f"voice.{name}", value)
        tr.quality_errors = dict(scores.errors)
        tr.transcript = scores.transcript


def _quality_failure(
    spec: ProbeSpec, planned: PlannedTurn, index: int, tr: TurnResult, marks: Sequence[str] = ()
) -> str | None:
    """Why a reply fails the spec's quality expectations, or None."""
    n = index + 1
    for metric, floor in spec.min_scores.items():
        value = getattr(tr, metric, None)
        if value is None:
            reason = tr.quality_errors.get(metric, "not computed")
            return f"{metric} could not be scored in turn {n} ({reason}); it has a floor of {floor:g}"
        if metric == "wer" and value > floor:
            return f"wer {value:.2f} above the limit {floor:g} in turn {n}"
        if metric != "wer" and value < floor:
            return f"{metric} {value:.2f} below the floor {floor:g} in turn {n}"
    expect = planned.expect
    if expect.max_wer is not None and (tr.wer is None or tr.wer > expect.max_wer):
        return f"wer {tr.wer if tr.wer is not None else 'n/a'} above {expect.max_wer:g} in turn {n}"
    if keywords_missing(tr.transcript, expect.keywords):
        matched = intent_verdict(expect.intent, marks)
        return keyword_failure_detail(n, expect.keywords, tr.transcript, tr.wer, matched)
    return None


@functools.cache
def _tracing() -> tuple[TracerProvider, InMemoryCollector]:
    # One provider per process: each provider registers an at-fork callback
    # that Python can never remove, so a provider per run leaks in long-lived
    # hosts (``voiceobs watch``, the demo). Runs stay apart by trace id.
    collector = InMemoryCollector()
    provider = setup_tracing("voiceobs-probe", processors=[collector])
    return provider, collector


#: Runs whose calls are in progress with the cyclic GC paused (runs may overlap on one loop).
_gc_paused_runs = 0
_gc_was_enabled = True


async def run_spec_async(
    spec: ProbeSpec,
    *,
    concurrency: int | None = None,
    progress: Progress | None = None,
    share: Share | None = None,
) -> list[RunResult]:
    """Place the spec's calls and return their raw results, one per call, in call order.

    ``concurrency`` overrides the spec's (see ``ProbeSpec.with_concurrency``).
    ``share`` places only one process's share of the calls (``voiceobs.probe.workers``).
    Nothing is redacted, stored or exported here: hand the results to
    ``voiceobs.recording.record`` (``voiceobs.run_spec`` does both).
    """
    spec = spec.with_concurrency(concurrency)
    results: list[RunResult] = []
    points = spec.sweep_points()
    # A sweep runs the spec once per value; every result carries its condition.
    per_point = len(share.calls(spec.total_calls)) if share is not None else spec.total_calls
    for i, point in enumerate(points):
        tick = progress
        if progress is not None and len(points) > 1:
            offset, whole = i * per_point, len(points) * per_point

            def tick(done: int, total: int, ok: bool, _o: int = offset, _w: int = whole) -> None:
                assert progress is not None
                progress(_o + done, _w, ok)

        results.extend(await _run_point(point, tick, share))
    return results


async def _run_point(spec: ProbeSpec, progress: Progress | None, share: Share | None = None) -> list[RunResult]:
    turns = planned_turns(spec)
    prompts = _prompts(spec, turns)
    n = min(spec.concurrency, spec.total_calls)
    if share is not None:
        n = min(share.concurrency(n), len(share.calls(spec.total_calls)))
    provider, collector = _tracing()
    tracer = provider.get_tracer("voiceobs.probe", __version__)
    # A cyclic collection over torch's and numpy's objects stalls the loop for
    # 10-20 ms, far beyond the pacing budget: collect now, then keep the
    # collector off until the last concurrent run has hung up (reference
    # counting still frees almost everything a call allocates).
    global _gc_paused_runs, _gc_was_enabled
    gc.collect()
    if _gc_paused_runs == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_paused_runs += 1
    try:
        try:
            with realtime_scheduling() as realtime:
                outcomes = await _run_calls(spec, turns, prompts, tracer, n, progress, realtime, share)
        finally:
            _gc_paused_runs -= 1
            if _gc_paused_runs == 0 and _gc_was_enabled:
                gc.enable()
        # Scoring is CPU-bound: run it in a worker thread once every call has hung up.
        results = await asyncio.to_thread(
            lambda: [_build_result(spec, turns, o, tracer) for o in outcomes]
        )
        for r in results:
            assert r.trace_id is not None
            r.spans = spans_to_records(collector.pop_trace(r.trace_id), run_id=r.id)
    finally:
        provider.force_flush(timeout_millis=5_000)
    return results


__all__ = ["PlannedTurn", "Progress", "Share", "planned_turns", "run_spec_async"]
