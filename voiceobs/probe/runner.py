"""A probe run: place a spec's calls, measure, score, redact, store, export.

The order is deliberate. Calls run first, N at a time on one event loop,
doing nothing but sending, receiving and stamping. Only when every call has
hung up are measures computed and replies scored, so a PESQ pass can never
delay another call's frames. Then each call becomes one ``RunResult`` whose
text is redacted, and is saved with its spans in one transaction; if the
store cannot be reached the run goes to the spool and is replayed next time.
A failed call is a result like any other, with its failure class.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, Span

from voiceobs._version import __version__
from voiceobs.config import Settings
from voiceobs.errors import AudioError, FailureClass, ProbeError, StoreError
from voiceobs.probe.call import CallPlan, CallRecord, TurnPlan, place_call
from voiceobs.probe.lock import spec_lock
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
from voiceobs.probe.spec import ProbeSpec, load_spec
from voiceobs.results import RunResult, TurnResult, utcnow
from voiceobs.store.spool import Spool

log = logging.getLogger(__name__)

#: Called after each call finishes (for progress bars): (done, total, result-so-far ok?).
Progress = Callable[[int, int, bool], None]


@dataclass
class _CallOutcome:
    index: int
    started_at: Any
    record: CallRecord | None
    error: ProbeError | None
    root: Span
    call_span: Span
    turn_spans: list[trace.SpanContext] = field(default_factory=list)


def _prompts(spec: ProbeSpec) -> list[Prompt]:
    base = Path(spec.source).parent if spec.source else Path.cwd()
    voice = spec.prompt_voice
    prompts = []
    for turn in spec.turns:
        wav = None
        if turn.wav is not None:
            wav = Path(turn.wav) if Path(turn.wav).is_absolute() else base / turn.wav
        prompts.append(
            load_prompt(
                text=turn.prompt, wav=wav, sample_rate=spec.sample_rate, protocol=spec.protocol, voice=voice
            )
        )
    return prompts


def _golden(spec: ProbeSpec, index: int) -> np.ndarray | None:
    turn = spec.turns[index]
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


def _plan(spec: ProbeSpec, prompts: list[Prompt], index: int, count: int) -> CallPlan:
    return CallPlan(
        url=spec.target,
        turns=[
            TurnPlan(
                prompt=p,
                end_silence_s=t.end_silence_ms / 1000.0,
                max_reply_s=t.max_reply_s,
                pause_s=t.pause_ms / 1000.0,
            )
            for p, t in zip(prompts, spec.turns, strict=True)
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
    prompts: list[Prompt],
    tracer: trace.Tracer,
    concurrency: int,
    progress: Progress | None,
    realtime: bool = False,
) -> list[_CallOutcome]:
    total = spec.total_calls
    gate = asyncio.Semaphore(concurrency)
    outcomes: list[_CallOutcome] = []
    done = 0

    async def one(index: int) -> None:
        nonlocal done
        async with gate:
            from voiceobs.tracing import inject_traceparent

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
            token = _attach(call_ctx)
            try:
                await place_call(
                    _plan(spec, prompts, index, concurrency),
                    wire_for(spec.protocol),
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
                _detach(token)
            if error is not None:
                call_span.set_status(trace.StatusCode.ERROR, error.failure_class.value)
                call_span.set_attribute("voice.failure_class", error.failure_class.value)
            rec = records[0] if records else None
            if rec is not None and rec.connect_ms is not None:
                call_span.set_attribute("voice.connect_ms", rec.connect_ms)
            call_span.end()
            outcomes.append(_CallOutcome(index, started_at, rec, error, root, call_span))
            done += 1
            if progress is not None:
                progress(done, total, error is None)

    await asyncio.gather(*(one(i) for i in range(total)))
    outcomes.sort(key=lambda o: o.index)
    return outcomes


def _attach(ctx: Any) -> object:
    from opentelemetry import context as otel_context

    return otel_context.attach(ctx)


def _detach(token: object) -> None:
    from opentelemetry import context as otel_context

    otel_context.detach(token)  # type: ignore[arg-type]


def _redact(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        from voiceobs.redact import redact_text

        return redact_text(text)
    except Exception:  # redaction failing must not leak: drop the text instead
        log.exception("redaction failed; dropping the text")
        return "[REDACTION FAILED]"


def _build_result(
    spec: ProbeSpec, outcome: _CallOutcome, tracer: trace.Tracer
) -> RunResult:
    rec, error = outcome.record, outcome.error
    loopback = any(t.reference == "prompt" for t in spec.turns)
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
    )
    failure: tuple[FailureClass, str] | None = (
        (error.failure_class, str(error)) if error is not None else None
    )
    root_ctx = trace.set_span_in_context(outcome.root)
    turn_records = rec.turns if rec is not None else []
    for i, spec_turn in enumerate(spec.turns):
        tr = TurnResult(turn_index=i, started_at=outcome.started_at)
        tr.expected_text = spec_turn.expect.text
        tr.intent = spec_turn.expect.intent
        if i == 0 and rec is not None:
            tr.connect_ms = rec.connect_ms
        if i < len(turn_records):
            turn = turn_records[i]
            tr.prompt_id = turn.prompt.key
            is_loop = spec_turn.reference == "prompt"
            m = measure_turn(rec, turn, loopback=is_loop) if rec is not None else None
            if m is not None:
                for name, value in vars(m).items():
                    setattr(tr, name, value)
            if turn.failure is not None:
                tr.ok, tr.failure_class = False, turn.failure.value
            elif turn.rx_end is None:
                tr.ok = False
                tr.failure_class = failure[0].value if failure else FailureClass.INTERNAL_ERROR.value
            else:
                assert rec is not None
                _score_turn(spec, i, rec, turn, tr, tracer, root_ctx)
                floor = _quality_failure(spec, i, tr, turn.marks)
                if floor is not None:
                    tr.ok, tr.failure_class = False, FailureClass.QUALITY_ERROR.value
                    if failure is None:
                        failure = (FailureClass.QUALITY_ERROR, floor)
        else:
            tr.ok = False
            tr.failure_class = failure[0].value if failure else FailureClass.INTERNAL_ERROR.value
        tr.transcript = _redact(tr.transcript)
        tr.expected_text = _redact(tr.expected_text)
        result.turns.append(tr)
    del loopback
    if failure is not None:
        result.status = "failed"
        result.failure_class = failure[0].value
        result.failure_detail = _redact(failure[1])
        outcome.root.set_status(trace.StatusCode.ERROR, failure[0].value)
        outcome.root.set_attribute("voice.failure_class", failure[0].value)
    result.finished_at = utcnow()
    outcome.root.end()
    return result


def _score_turn(
    spec: ProbeSpec,
    index: int,
    rec: CallRecord,
    turn: Any,
    tr: TurnResult,
    tracer: trace.Tracer,
    root_ctx: Any,
) -> None:
    spec_turn = spec.turns[index]
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
    reference = turn.prompt.audio if loopback else _golden(spec, index)
    parent = getattr(turn, "span_context", None)
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
    spec: ProbeSpec, index: int, tr: TurnResult, marks: Sequence[str] = ()
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
    expect = spec.turns[index].expect
    if expect.max_wer is not None and (tr.wer is None or tr.wer > expect.max_wer):
        return f"wer {tr.wer if tr.wer is not None else 'n/a'} above {expect.max_wer:g} in turn {n}"
    if keywords_missing(tr.transcript, expect.keywords):
        matched = intent_verdict(expect.intent, marks)
        return keyword_failure_detail(n, expect.keywords, tr.transcript, tr.wer, matched)
    return None


@functools.cache
def _tracing() -> tuple[TracerProvider, Any]:
    # One provider per process: each provider registers an at-fork callback
    # that Python can never remove, so a provider per run leaks in long-lived
    # hosts (``voiceobs watch``, the demo). Runs stay apart by trace id.
    from voiceobs.tracing import InMemoryCollector, setup_tracing

    collector = InMemoryCollector()
    provider = setup_tracing("voiceobs-probe", processors=[collector])
    return provider, collector


#: Runs whose calls are in progress with the cyclic GC paused (runs may overlap on one loop).
_gc_paused_runs = 0
_gc_was_enabled = True


def save_results(results: list[RunResult], *, store: Any = None, db_url: str | None = None) -> tuple[int, int]:
    """Save runs (replaying the spool first); what cannot be saved is spooled.

    Returns ``(saved, spooled)``. Never raises for a store that is down:
    losing a probe result during an outage would hide the outage.
    """
    spool = Spool()
    own = store is None
    try:
        if store is None:
            from voiceobs.store import Store

            store = Store.open(Settings.load(db_url).db_url, create=True)
    except StoreError as exc:
        log.warning("store unavailable (%s); spooling %d run(s)", exc, len(results))
        for r in results:
            spool.write(r)
        return 0, len(results)
    saved = spooled = 0
    try:
        replayed = spool.replay(store.save_run)
        if replayed:
            log.info("replayed %d spooled run(s)", replayed)
        for i, r in enumerate(results):
            try:
                store.save_run(r)
                saved += 1
            except StoreError as exc:
                log.warning("cannot save run %s (%s); spooling the rest", r.id, exc)
                for rest in results[i:]:
                    spool.write(rest)
                    spooled += 1
                break
    finally:
        if own:
            store.close()
    return saved, spooled


def run_spec(
    spec_or_path: ProbeSpec | str | Path,
    *,
    store: Any = None,
    db_url: str | None = None,
    concurrency: int | None = None,
    pushgateway: str | None = None,
    progress: Progress | None = None,
    save: bool = True,
) -> list[RunResult]:
    """Run a probe spec once: one ``RunResult`` per call, saved (or spooled), optionally pushed.

    The public entry point for the CLI, the CI gate and the demo. Raises
    ``SpecError`` for a bad spec and ``RunLocked`` when another run of the
    same spec is in progress; call failures are results, not exceptions.
    """
    spec = spec_or_path if isinstance(spec_or_path, ProbeSpec) else load_spec(spec_or_path)
    with spec_lock(spec.name, spec.source):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("run_spec() cannot run inside an event loop; use run_spec_async()")
        results = asyncio.run(
            run_spec_async(spec, concurrency=concurrency, progress=progress, _locked=True)
        )
        if save:
            save_results(results, store=store, db_url=db_url)
    if pushgateway:
        from voiceobs.metrics import push_results

        push_results(results, pushgateway, job=f"voiceobs_probe_{spec.name}")
    return results


async def run_spec_async(
    spec: ProbeSpec,
    *,
    concurrency: int | None = None,
    progress: Progress | None = None,
    _locked: bool = False,
) -> list[RunResult]:
    """Place the calls and build their results (not saved); for hosts with their own loop."""
    prompts = _prompts(spec)
    n = max(1, min(concurrency or spec.concurrency, spec.total_calls))
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
                outcomes = await _run_calls(spec, prompts, tracer, n, progress, realtime)
        finally:
            _gc_paused_runs -= 1
            if _gc_paused_runs == 0 and _gc_was_enabled:
                gc.enable()
        # Scoring is CPU-bound: run it in a worker thread once every call has hung up.
        results = await asyncio.to_thread(
            lambda: [_build_result(spec, o, tracer) for o in outcomes]
        )
        from voiceobs.tracing import spans_to_records

        for r in results:
            assert r.trace_id is not None
            r.spans = spans_to_records(collector.pop_trace(r.trace_id), run_id=r.id)
    finally:
        provider.force_flush(timeout_millis=5_000)
    return results


__all__ = ["Progress", "run_spec", "run_spec_async", "save_results"]
