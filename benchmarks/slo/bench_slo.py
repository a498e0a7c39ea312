"""Benchmark: evaluate 10 SLOs over 1, 3 and 10 million stored turns, SQLite and PostgreSQL.

Baseline (named ``full-scan``): the same good/total counts taken straight
from the raw tables with one aggregate query per SLO and window, served by
the (probe, started_at) indexes: what an engine without rollups would run.
Measured in the same run as ``voiceobs.slo.evaluate``:

* ``first``: the first evaluation, which builds the per-minute rollups;
* ``steady``: an evaluation after 1,000 new turns arrived (what cron or the
  watcher pays every few minutes): the figure the < 1 s target is about.

Data is generated inside the database (recursive CTE on SQLite,
generate_series on PostgreSQL): 30 days of turns, four per call, three probes.

    .venv/bin/python benchmarks/slo/bench_slo.py --sizes 1,3,10 --backends sqlite,postgresql
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from voiceobs.slo import evaluate, parse_slos
from voiceobs.store import Store
from voiceobs.store.retention import RetentionPolicy
from voiceobs.store.sli import counts, source_for

# Evaluate at the wall clock, as cron does: the newest data is minutes old.
NOW = datetime.now(UTC).replace(microsecond=0)
SPAN = timedelta(days=30)
PROBES = ("echo-loopback", "codec-loopback", "agent-smoke")

SLOS = parse_slos("""
version: voiceobs/v1
slos:
  - {name: echo-avail, selector: {probe: echo-loopback}, sli: {kind: availability}, objective: 99.5%, window: 30d}
  - {name: codec-avail, selector: {probe: codec-loopback}, sli: {kind: availability}, objective: 99.5%, window: 30d}
  - {name: agent-avail, selector: {probe: agent-smoke}, sli: {kind: availability}, objective: 99%, window: 7d}
  - {name: echo-lat, selector: {probe: echo-loopback}, sli: {kind: latency, threshold_ms: 800}, objective: 99%, window: 30d}
  - {name: agent-lat, selector: {probe: agent-smoke}, sli: {kind: latency, threshold_ms: 1200}, objective: 95%, window: 30d}
  - {name: all-lat, sli: {kind: latency, threshold_ms: 1000}, objective: 99%, window: 7d}
  - {name: codec-pesq, selector: {probe: codec-loopback}, sli: {kind: quality, measure: pesq_wb, op: ">=", threshold: 3.0}, objective: 99%, window: 30d}
  - {name: echo-pesq, selector: {probe: echo-loopback}, sli: {kind: quality, measure: pesq_wb, op: ">=", threshold: 2.5}, objective: 98%, window: 30d}
  - {name: agent-wer, selector: {probe: agent-smoke}, sli: {kind: quality, measure: wer, op: "<=", threshold: 0.25}, objective: 98%, window: 30d}
  - {name: agent-ttfb, selector: {probe: agent-smoke, region: eu}, sli: {kind: latency, measure: ttfb_ms, threshold_ms: 900}, objective: 99%, window: 30d}
""")


def generate(store: Store, n_turns: int) -> float:
    """Insert ``n_turns`` turns (and n/4 calls) over the 30 days before NOW, in SQL."""
    runs = n_turns // 4
    start = int((NOW - SPAN).timestamp())
    step = SPAN.total_seconds() / runs
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        if store.backend == "sqlite":
            ts = "strftime('%Y-%m-%d %H:%M:%S', {e}, 'unixepoch') || '.000000'"
            conn.exec_driver_sql(f"""
                INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline, protocol,
                    labels, started_at, status, probe_host, voiceobs_version, source, framework,
                    service, deployment)
                WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < {runs - 1})
                SELECT printf('%032d', i),
                    CASE i % 3 WHEN 0 THEN 'echo-loopback' WHEN 1 THEN 'codec-loopback' ELSE 'agent-smoke' END,
                    'ws://127.0.0.1:8765/twilio', CASE WHEN i % 2 THEN 'eu' ELSE 'us' END, '', '', '{{}}',
                    {ts.format(e=f'{start} + CAST(i * {step} AS INTEGER)')},
                    CASE WHEN i % 211 = 0 THEN 'failed' ELSE 'ok' END, '', '',
                    'synthetic', 'voiceobs', '', ''
                FROM c""")
            conn.exec_driver_sql("""
                INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name, target_url,
                    region, ok, ttfb_ms, turn_latency_ms, pesq_wb, wer, quality_errors, source,
                    framework, service, flags, kind, caller)
                SELECT r.id, t.k, '', r.started_at, r.probe_name, r.target_url, r.region,
                    r.status = 'ok',
                    CASE WHEN r.status = 'ok' THEN abs(random()) % 1000 END,
                    CASE WHEN r.status = 'ok' THEN 200 + abs(random()) % 1100 END,
                    CASE WHEN r.status = 'ok' THEN 1.5 + (abs(random()) % 300) / 100.0 END,
                    CASE WHEN r.status = 'ok' AND r.probe_name = 'agent-smoke'
                         THEN (abs(random()) % 40) / 100.0 END,
                    '{}', 'synthetic', 'voiceobs', '', '{}', 'prompt', '{}'
                FROM probe_runs r,
                     (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) t
                ORDER BY r.started_at, t.k""")
        else:
            conn.exec_driver_sql(f"""
                INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline, protocol,
                    labels, started_at, status, probe_host, voiceobs_version, source, framework,
                    service, deployment)
                SELECT lpad(i::text, 32, '0'),
                    (ARRAY['echo-loopback','codec-loopback','agent-smoke'])[mod(i, 3) + 1],
                    'ws://127.0.0.1:8765/twilio', CASE WHEN mod(i, 2) = 1 THEN 'eu' ELSE 'us' END, '', '',
                    '{{}}'::json, to_timestamp({start} + floor(i * {step})),
                    CASE WHEN mod(i, 211) = 0 THEN 'failed' ELSE 'ok' END, '', '',
                    'synthetic', 'voiceobs', '', ''
                FROM generate_series(0, {runs - 1}) AS i""")
            conn.exec_driver_sql("""
                INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name, target_url,
                    region, ok, ttfb_ms, turn_latency_ms, pesq_wb, wer, quality_errors, source,
                    framework, service, flags, kind, caller)
                SELECT r.id, k, '', r.started_at, r.probe_name, r.target_url, r.region,
                    r.status = 'ok',
                    CASE WHEN r.status = 'ok' THEN floor(random() * 1000) END,
                    CASE WHEN r.status = 'ok' THEN 200 + floor(random() * 1100) END,
                    CASE WHEN r.status = 'ok' THEN 1.5 + floor(random() * 300) / 100.0 END,
                    CASE WHEN r.status = 'ok' AND r.probe_name = 'agent-smoke'
                         THEN floor(random() * 40) / 100.0 END,
                    '{}'::json, 'synthetic', 'voiceobs', '', '{}'::json, 'prompt', '{}'::json
                FROM probe_runs r CROSS JOIN generate_series(0, 3) AS k
                ORDER BY r.started_at, k""")
    if store.backend == "postgresql":
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    else:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t0


def full_scan(store: Store) -> float:
    """The baseline: every SLO window and alert window counted from the raw rows."""
    t0 = time.perf_counter()
    with store.engine.connect() as conn:
        for slo in SLOS:
            src = source_for(slo.sli_query())
            windows = [slo.period] + [w for a in _alerts(slo) for w in (a.long, a.short)]
            for w in windows:
                conn.execute(counts(src, NOW - w, NOW)).one()
    return time.perf_counter() - t0


def _alerts(slo):  # type: ignore[no-untyped-def]
    from voiceobs.slo import load_policy

    return load_policy().scaled(slo.period)


#: Raw rows kept forever: with the default 30 days of turns a 30-day window reaches past the
#: retention horizon and is read from whole rollup minutes (its partial first minute left out,
#: so it reads the same before and after a prune), and could not equal the full scan exactly.
KEEP = RetentionPolicy(spans=None, turns=None, rollups=None)


def timed_eval(store: Store) -> float:
    t0 = time.perf_counter()
    evaluate(store, SLOS, now=NOW, record=False, retention=KEEP)
    return time.perf_counter() - t0


def insert_recent(store: Store, n: int) -> None:
    with store.engine.begin() as conn:
        run_id = uuid.uuid4().hex
        conn.execute(text(
            "INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline, protocol, labels,"
            " started_at, status, probe_host, voiceobs_version, source, framework, service,"
            " deployment) VALUES (:id, 'echo-loopback', 'ws://127.0.0.1:8765/twilio', 'eu', '', '',"
            " '{}', :at, 'ok', '', '', 'synthetic', 'voiceobs', '', '')"),
            {"id": run_id, "at": _db_time(store, NOW - timedelta(minutes=2))})
        conn.execute(text(
            "INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name, target_url,"
            " region, ok, turn_latency_ms, pesq_wb, quality_errors, source, framework, service,"
            " flags, kind, caller) VALUES (:r, :k, '', :at, 'echo-loopback',"
            " 'ws://127.0.0.1:8765/twilio', 'eu', true, 500, 3.5, '{}', 'synthetic', 'voiceobs',"
            " '', '{}', 'prompt', '{}')"),
            [{"r": run_id, "k": k, "at": _db_time(store, NOW - timedelta(seconds=90 - k * 0.05))}
             for k in range(n)])


def _db_time(store: Store, at: datetime) -> object:
    return at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if store.backend == "sqlite" else at


def bench(url: str, millions: float) -> dict[str, float]:
    store = Store.open(url, create=True)
    n = int(millions * 1_000_000)
    gen = generate(store, n)
    scan = statistics.median(full_scan(store) for _ in range(3))
    first = timed_eval(store)
    steady_runs = []
    for _ in range(3):
        insert_recent(store, 1000)
        steady_runs.append(timed_eval(store))
    steady = statistics.median(steady_runs)
    # Sanity: rollup-based evaluation counts exactly what the full scan counts.
    [r] = evaluate(store, SLOS[:1], now=NOW, record=False, retention=KEEP)
    with store.engine.connect() as conn:
        g, t = conn.execute(counts(source_for(SLOS[0].sli_query()), NOW - SLOS[0].period, NOW)).one()
    assert (r.good, r.total) == (g, t), ((r.good, r.total), (g, t))
    store.close()
    return {"generate_s": gen, "full_scan_s": scan, "first_s": first, "steady_s": steady}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,3,10", help="millions of turns, comma separated")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get(
        "VOICEOBS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where SQLite files go")
    args = parser.parse_args()
    print(f"{'backend':10} {'turns':>6} {'generate':>9} {'full-scan':>10} {'first':>8} "
          f"{'steady':>8} {'speed-up':>9}")
    for backend in args.backends.split(","):
        for size in (float(s) for s in args.sizes.split(",")):
            if backend == "sqlite":
                path = Path(args.dir) / f"voiceobs-bench-{size:g}m.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                url, cleanup = f"sqlite:///{path}", lambda p=path: [
                    Path(f"{p}{s}").unlink(missing_ok=True) for s in ("", "-wal", "-shm")]
            else:
                schema = f"bench_{uuid.uuid4().hex[:8]}"
                admin = create_engine(args.pg_url)
                with admin.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                sep = "&" if "?" in args.pg_url else "?"
                url = f"{args.pg_url}{sep}options=-csearch_path%3D{schema}"

                def cleanup(schema: str = schema, admin=admin) -> None:  # type: ignore[no-untyped-def]
                    with admin.begin() as conn:
                        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            try:
                r = bench(url, size)
            finally:
                cleanup()
            print(f"{backend:10} {size:>5g}M {r['generate_s']:>8.1f}s {r['full_scan_s']:>9.3f}s "
                  f"{r['first_s']:>7.2f}s {r['steady_s']:>7.3f}s "
                  f"{r['full_scan_s'] / r['steady_s']:>8.1f}x", flush=True)


if __name__ == "__main__":
    main()
