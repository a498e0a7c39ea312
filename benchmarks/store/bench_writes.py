"""Store write throughput: turns and spans per second through the store's bulk paths.

For each backend (SQLite file, PostgreSQL), in the same run against the same
fresh schema:

* **turns**: probe calls of 5 turns each, written as the recording path
  writes a probe run: ``Store.save_runs`` (one transaction per batch of
  ``--batch-calls`` calls; the runs, then every turn by one executemany),
  against the named baseline **one ORM insert per row**: the call's run row
  and then each turn row added as an ORM object and committed on its own (a
  transaction and a round trip per row). Also shown: **ORM per call**, the
  previous ``save_run`` (the run and its turns as ORM objects, one
  transaction per call).
* **spans**: ``Store.save_spans_bulk`` (COPY into a staging table on
  PostgreSQL, one multi-row INSERT on SQLite) in batches of
  ``--batch-spans``, against one ORM insert per span, a transaction each.

Rates are rows per second of wall time (the database shares the machine).
The baselines write fewer rows (``--baseline-rows``) because they are slow;
a rate does not depend on how many rows it is measured over at these sizes.

    .venv/bin/python benchmarks/store/bench_writes.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/bench_workers
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from voiceobs.results import RunResult, SpanRecord, TurnResult
from voiceobs.store import Store
from voiceobs.store.models import ProbeRun, Span, Turn
from voiceobs.store.runs import RunsMixin

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TURNS_PER_CALL = 5


def _calls(n: int, rng: random.Random) -> list[RunResult]:
    out = []
    for i in range(n):
        run = RunResult(
            probe_name="bench-writes", target_url="ws://bot:8765/twilio", started_at=T0 + timedelta(seconds=i),
            finished_at=T0 + timedelta(seconds=i + 20), region="eu-west", pipeline="agent", protocol="twilio",
            labels={"team": "voice"}, probe_host="probe-1", voiceobs_version="bench",
        )  # fmt: skip
        for t in range(TURNS_PER_CALL):
            run.turns.append(
                TurnResult(
                    turn_index=t, prompt_id=f"p{t}", connect_ms=rng.uniform(5, 30),
                    ttfb_ms=rng.uniform(200, 900), turn_latency_ms=rng.uniform(300, 1500),
                    gap_p99_ms=rng.uniform(20, 40), pacing_error_p99_ms=rng.uniform(0.3, 1.0),
                    wer=rng.uniform(0, 0.2), transcript="I would like to check the status of my order",
                    started_at=T0 + timedelta(seconds=i, milliseconds=t * 3000),
                )
            )  # fmt: skip
        out.append(run)
    return out


def _spans(n: int, rng: random.Random) -> list[SpanRecord]:
    out = []
    base = int(T0.timestamp() * 1e9)
    for i in range(n):
        trace = uuid.UUID(int=rng.getrandbits(128)).hex
        out.append(
            SpanRecord(
                trace_id=trace, span_id=f"{rng.getrandbits(64):016x}", parent_span_id=f"{i:016x}",
                name=rng.choice(["stt", "llm", "tts", "turn"]), start_ns=base + i * 1000,
                end_ns=base + i * 1000 + 400_000_000, service_name="voice-bot", kind="INTERNAL",
                attributes={"gen_ai.usage.input_tokens": rng.randint(50, 900), "voice.audio_seconds": 2.5,
                            "gen_ai.request.model": "gpt-4o-mini", "session.id": trace[:12]},
                events=[{"name": "first_token", "time_ns": base + i * 1000 + 200_000_000}],
            )
        )  # fmt: skip
    return out


_RUN_FIELDS = [f.name for f in dataclasses.fields(RunResult) if f.name not in ("turns", "spans")]


def _orm_per_row_turns(store: Store, calls: Sequence[RunResult]) -> int:
    """The named baseline: each row an ORM object in a transaction of its own."""
    rows = 0
    for run in calls:
        with store.session() as s:
            s.add(ProbeRun(**{f: getattr(run, f) for f in _RUN_FIELDS}))
        for turn in run.turns:
            values = RunsMixin._turn_values(run, turn)
            with store.session() as s:
                s.add(Turn(**values))
            rows += 1
    return rows


def _orm_per_call_turns(store: Store, calls: Sequence[RunResult]) -> int:
    """``save_run`` as it was: the run and its turns as ORM objects, one transaction per call."""
    for run in calls:
        row = ProbeRun(**{f: getattr(run, f) for f in _RUN_FIELDS})
        for turn in run.turns:
            values = RunsMixin._turn_values(run, turn)
            del values["run_id"]
            row.turns.append(Turn(**values))
        with store.session() as s:
            s.add(row)
    return sum(len(r.turns) for r in calls)


def _orm_per_row_spans(store: Store, spans: Sequence[SpanRecord]) -> int:
    for x in spans:
        with store.session() as s:
            s.add(Span(**dataclasses.asdict(x)))
    return len(spans)


def _timed(label: str, work: Callable[[], int]) -> float:
    start = time.perf_counter()
    rows = work()
    took = time.perf_counter() - start
    rate = rows / took
    print(f"  {label:<34} {rows:>7} rows in {took:7.2f} s = {rate:>9,.0f} rows/s", flush=True)
    return rate


def _bench(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(7)
    store = Store.open(url, create=True)
    print(f"{name}:", flush=True)
    out: dict[str, float] = {}
    try:
        calls = _calls(args.calls, rng)
        size = args.batch_calls
        out["turns bulk"] = _timed(
            f"turns: save_runs, {size} calls/batch",
            lambda: sum(
                store.save_runs(calls[i : i + size]) * TURNS_PER_CALL
                for i in range(0, len(calls), size)
            ),
        )
        few = max(1, args.baseline_rows // TURNS_PER_CALL)
        out["turns orm row"] = _timed(
            "turns: one ORM insert per row", lambda: _orm_per_row_turns(store, _calls(few, rng))
        )
        out["turns orm call"] = _timed(
            "turns: ORM per call (old save_run)",
            lambda: _orm_per_call_turns(store, _calls(few, rng)),
        )
        spans = _spans(args.spans, rng)
        size = args.batch_spans
        out["spans bulk"] = _timed(
            f"spans: save_spans_bulk, {size}/batch",
            lambda: sum(
                store.save_spans_bulk(spans[i : i + size]) for i in range(0, len(spans), size)
            ),
        )
        out["spans orm row"] = _timed(
            "spans: one ORM insert per span",
            lambda: _orm_per_row_spans(store, _spans(args.baseline_rows, rng)),
        )
    finally:
        store.close()
    print(
        f"  bulk vs one ORM insert per row: turns {out['turns bulk'] / out['turns orm row']:.1f}x, "
        f"spans {out['spans bulk'] / out['spans orm row']:.1f}x; turns vs ORM per call "
        f"{out['turns bulk'] / out['turns orm call']:.1f}x",
        flush=True,
    )
    return out


def _fresh_pg_schema(url: str) -> tuple[str, Callable[[], None]]:
    """A new schema in the benchmark database, dropped (with its rows) when done."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg", default=os.environ.get("VOICEOBS_BENCH_PG_URL"), help="PostgreSQL database URL"
    )
    parser.add_argument(
        "--calls", type=int, default=4000, help="calls for the bulk turns path (5 turns each)"
    )
    parser.add_argument("--spans", type=int, default=50_000, help="spans for the bulk span path")
    parser.add_argument(
        "--baseline-rows", type=int, default=2000, help="rows each ORM baseline writes"
    )
    parser.add_argument("--batch-calls", type=int, default=200)
    parser.add_argument("--batch-spans", type=int, default=2000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
        f"{args.calls} calls x {TURNS_PER_CALL} turns, {args.spans} spans",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        _bench("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    if args.pg:
        url, drop = _fresh_pg_schema(args.pg)
        try:
            _bench("PostgreSQL", url, args)
        finally:
            drop()
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
