"""Probe hosts, collectors and an SLO evaluator writing one PostgreSQL at once, for seconds.

Each writer is a real process with its own store handle, as on separate
hosts, and goes through the path its command uses: probe hosts through the
recording path (``voiceobs.recording.record``: ``Store.save_runs``),
collectors through the bulk span writer (``Store.save_spans_bulk``) and the
recording path with ``replace`` for the production calls they assemble
(``Store.replace_runs``, overlapping: both collectors rewrite the same
calls, as replicas behind one Service do), the evaluator through
``Store.record_evaluation``. Every writer says what it wrote; the store
must hold exactly that, and no writer may have met an error: a deadlock
would surface as one, or in a batch the recording path had to split (the
one split allowed is the store's documented retry after a duplicate key).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import random
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.store.factories import T0, make_run
from voiceobs.results import SpanRecord
from voiceobs.store import Store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECONDS = 10.0
#: Production calls both collectors rewrite (the same ids, in random order).
SHARED_CALLS = 24


class _Complaints(logging.Handler):
    """What a writer logged that means trouble: any warning, any deadlock, any split batch but one.

    The one split allowed is the store's own documented retry: a
    ``replace_runs`` batch that met a call another collector inserted
    meanwhile (a duplicate key) is written again call by call. A deadlock
    would show up here too (in that message or on its own), and fails the test.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[str] = []
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        split = "not written at once" in text
        if split and "duplicate key" in text and "deadlock" not in text.lower():
            self.retries += 1
        elif record.levelno >= logging.WARNING or "deadlock" in text.lower() or split:
            self.seen.append(f"{record.name}: {text}")


def _writer(kind: str, n: int, url: str, out: str, barrier: object, spool: str) -> None:
    from voiceobs.recording import record
    from voiceobs.store.spool import Spool

    complaints = _Complaints()
    logging.getLogger().addHandler(complaints)
    logging.getLogger().setLevel(logging.INFO)
    rng = random.Random(n)
    store = Store.open(url)
    wrote: dict[str, object] = {
        "runs": {},
        "spans": [],
        "production": {},
        "evaluations": 0,
        "errors": [],
    }
    runs: dict[str, int] = wrote["runs"]  # type: ignore[assignment]
    spans: list[list[str]] = wrote["spans"]  # type: ignore[assignment]
    production: dict[str, list[int]] = wrote["production"]  # type: ignore[assignment]
    errors: list[str] = wrote["errors"]  # type: ignore[assignment]
    barrier.wait()  # type: ignore[attr-defined]
    end = time.monotonic() + SECONDS
    i = 0
    try:
        while time.monotonic() < end:
            i += 1
            if kind == "probe":
                batch = [
                    make_run(
                        probe=f"host-{n}",
                        started_at=T0 + timedelta(seconds=i),
                        turns=rng.randint(1, 3),
                    )
                    for _ in range(20)
                ]
                report = record(batch, store=store, spool=Spool(Path(spool)))
                assert report.saved is not None
                if report.saved.spooled or report.saved.saved != len(batch):
                    errors.append(
                        f"batch {i}: saved {report.saved.saved}, spooled {report.saved.spooled}"
                    )
                for r in report.results:
                    runs[r.id] = len(r.turns)
                    spans.extend([s.trace_id, s.span_id] for s in r.spans)
            elif kind == "collector":
                # Spans: a batch of 300, a third of them also sent to the other collector
                # (an exporter retrying against another replica): the same span, so the same
                # start (on PostgreSQL the start is part of a span's key, see partitions).
                base = int((T0 + timedelta(seconds=i)).timestamp() * 1e9)
                shared_base = int(T0.timestamp() * 1e9)
                batch_spans = [
                    SpanRecord(
                        trace_id=f"{(i if k % 3 else 0):08x}{k % 50:08x}{(n if k % 3 else 9):016x}",
                        span_id=f"{k:016x}",
                        name="llm",
                        start_ns=(base if k % 3 else shared_base) + k,
                        end_ns=(base if k % 3 else shared_base) + k + 1_000_000,
                        attributes={"gen_ai.usage.input_tokens": k},
                    )
                    for k in range(300)
                ]
                store.save_spans_bulk(batch_spans)
                spans.extend([s.trace_id, s.span_id] for s in batch_spans)
                # Calls: ten of the shared production calls, each a version with more turns.
                calls = []
                for c in rng.sample(range(SHARED_CALLS), 10):
                    run = make_run(
                        probe="prod", started_at=T0, turns=1 + i % 4, trace_id=f"{c:032x}"
                    )
                    run.id = f"call{c:028d}"
                    run.source = "production"
                    calls.append(run)
                report = record(calls, store=store, spool=Spool(Path(spool)), replace=True)
                assert report.saved is not None
                if report.saved.spooled:
                    errors.append(f"calls batch {i}: spooled {report.saved.spooled}")
                for r in report.results:
                    production.setdefault(r.id, []).append(len(r.turns))
                    spans.extend([s.trace_id, s.span_id] for s in r.spans)
            else:
                store.record_evaluation(
                    slo_name=f"slo-{i % 5}", window="30d", objective=0.99, good=i, total=i + 1,
                    sli=i / (i + 1), budget_remaining=0.5, burn_rates={"1h": 1.0}, alert_state="ok",
                )  # fmt: skip
                wrote["evaluations"] = int(wrote["evaluations"]) + 1  # type: ignore[call-overload]
    except Exception as exc:  # reported, not raised: the parent compares what each wrote
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        store.close()
        errors.extend(complaints.seen)
        wrote["retries"] = complaints.retries
        Path(out).write_text(json.dumps(wrote))


def test_hosts_and_collectors_writing_at_once_lose_nothing_and_never_deadlock(
    pg_url: str, tmp_path: Path
) -> None:
    Store.open(pg_url, create=True).close()
    writers = [("probe", 0), ("probe", 1), ("collector", 2), ("collector", 3), ("evaluator", 4)]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(writers))
    procs = [
        ctx.Process(
            target=_writer,
            args=(
                kind,
                n,
                pg_url,
                str(tmp_path / f"{n}.json"),
                barrier,
                str(tmp_path / f"spool-{n}"),
            ),
        )
        for kind, n in writers
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(SECONDS + 120)
        assert p.exitcode == 0
    wrote = [json.loads((tmp_path / f"{n}.json").read_text()) for _, n in writers]
    assert [w["errors"] for w in wrote] == [[] for _ in wrote]

    probe_runs = {k: v for w in wrote for k, v in w["runs"].items()}
    production: dict[str, set[int]] = {}
    for w in wrote:
        for k, counts in w["production"].items():
            production.setdefault(k, set()).update(counts)
    span_keys = {tuple(k) for w in wrote for k in w["spans"]}
    evaluations = sum(w["evaluations"] for w in wrote)
    assert len(probe_runs) > 100 and len(production) == SHARED_CALLS and evaluations > 10

    from voiceobs.store.models import ProbeRun, SloEvaluation, Span, Turn

    store = Store.open(pg_url)
    try:
        with store.session() as s:
            stored_runs = {r[0]: r[1] for r in s.execute(select(ProbeRun.id, ProbeRun.source))}
            turns: dict[str, list[int]] = {}
            for run_id, index in s.execute(select(Turn.run_id, Turn.turn_index)):
                turns.setdefault(run_id, []).append(index)
            stored_spans = {(r[0], r[1]) for r in s.execute(select(Span.trace_id, Span.span_id))}
            span_rows = s.scalar(select(func.count()).select_from(Span))
            stored_evaluations = s.scalar(select(func.count()).select_from(SloEvaluation))
    finally:
        store.close()
    # Every run once, with exactly the turns it was written with.
    assert set(stored_runs) == set(probe_runs) | set(production)
    for run_id, count in probe_runs.items():
        assert sorted(turns.get(run_id, [])) == list(range(count)), run_id
    # A rewritten call holds one version's turns, whole: never two versions mixed or doubled.
    for run_id, counts in production.items():
        indices = sorted(turns.get(run_id, []))
        assert indices == list(range(len(indices))) and len(indices) in counts, run_id
    assert stored_spans == span_keys and span_rows == len(span_keys)
    assert stored_evaluations == evaluations
    print(
        f"stored {len(probe_runs)} probe calls, {len(production)} production calls rewritten "
        f"{sum(len(w['production']) for w in wrote)} times, {len(span_keys)} spans, {evaluations} evaluations; "
        f"batches retried call by call after a duplicate key: {sum(w['retries'] for w in wrote)}"
    )
