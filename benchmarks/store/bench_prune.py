"""Prune 30 days out of a SQLite store while a probe writes: how long, and how long it blocks.

The store holds ``--turns`` turns (4 per call) spread over the 60 days before
NOW, so the default policy (30 days of calls and turns) removes half of them.
Two contenders each get a fresh copy of the same file:

* ``prune``: ``voiceobs.store.retention.prune`` (bounded batches, the write
  lock handed over between them, free pages given back);
* ``one DELETE`` (the baseline): the same rows removed by one unbatched
  ``DELETE`` of the turns and one of the calls, in one transaction.

During each, a writer process saves a call (one run and 4 turns) every 20 ms
through the Store, as a probe does, and records how long each save took from
asking to commit: its longest wait is how long the contender held the write
lock at once (a save that waits past SQLite's busy timeout, 30 s, fails and
is counted as lost). A third run of the writer alone gives the save time with
nobody else writing. With ``--pacing-calls N`` a probe process also places N
calls at once, back to back, against the echo server during each contender
(``benchmarks/probe/bench_pacing.py``'s run, the shipped frame clock), and the
p99 of its frame send errors is reported: what a prune costs a probe sharing
the host.

    .venv/bin/python benchmarks/store/bench_prune.py --turns 1000000 [--pacing-calls 100]

With ``--url postgresql+psycopg://...`` the same is done on PostgreSQL, on a
store with day partitions (migration 0007): each contender gets its own
database copied from a template (``CREATE DATABASE ... TEMPLATE``). There
``prune`` drops the expired days whole before its batched deletes, and the
baseline is again one DELETE of the turns and one of the calls. PostgreSQL
writers wait on no lock a delete of other rows holds, so what the writer's
waits show there is the load the removal puts on the server; the size
column is the database's size after the removal (a DELETE frees nothing
until VACUUM; a dropped partition frees its files at once).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from voiceobs.results import RunResult, TurnResult
from voiceobs.store import Store
from voiceobs.store.retention import RetentionPolicy, page_counts, prune

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=60)
POLICY = RetentionPolicy(spans=None)  # calls and turns 30 days, the rest as shipped


def generate(url: str, n_turns: int) -> float:
    """Calls and turns over the 60 days before NOW, written in SQL (4 turns a call)."""
    store = Store.open(url, create=True)
    runs = n_turns // 4
    start = int((NOW - SPAN).timestamp())
    step = SPAN.total_seconds() / runs
    ts = "strftime('%Y-%m-%d %H:%M:%S', {e}, 'unixepoch') || '.000000'"
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"""
            INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline, protocol,
                labels, started_at, status, probe_host, voiceobs_version, source, framework,
                service, deployment)
            WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < {runs - 1})
            SELECT printf('%032d', i), 'echo-loopback', 'ws://127.0.0.1:8765/twilio',
                CASE WHEN i % 2 THEN 'eu' ELSE 'us' END, '', '', '{{}}',
                {ts.format(e=f"{start} + CAST(i * {step} AS INTEGER)")},
                CASE WHEN i % 211 = 0 THEN 'failed' ELSE 'ok' END, '', '', 'synthetic', '', '', ''
            FROM c""")
        conn.exec_driver_sql("""
            INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name, target_url,
                region, ok, ttfb_ms, turn_latency_ms, pesq_wb, quality_errors, transcript,
                source, framework, service, flags, kind, caller)
            SELECT r.id, t.k, '', r.started_at, r.probe_name, r.target_url, r.region,
                r.status = 'ok', abs(random()) % 1000, 200 + abs(random()) % 1100,
                1.5 + (abs(random()) % 300) / 100.0, '{}', 'check my order [PHONE]',
                'synthetic', '', '', '{}', 'prompt', '{}'
            FROM probe_runs r,
                 (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) t
            ORDER BY r.started_at, t.k""")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    store.close()
    return time.perf_counter() - t0


def generate_pg(url: str, n_turns: int) -> float:
    """The same calls and turns on PostgreSQL, in day partitions made ahead, written in SQL."""
    from sqlalchemy import text

    from voiceobs.store.partitions import ensure_partitions

    store = Store.open(url, create=True)
    ensure_partitions(store, NOW - SPAN - timedelta(days=1), ahead=SPAN + timedelta(days=3))
    runs = n_turns // 4
    params = {"start": NOW - SPAN, "runs": runs, "step": SPAN.total_seconds() / runs}
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline, protocol,"
                " labels, started_at, status, probe_host, voiceobs_version, source, framework,"
                " service, deployment) SELECT lpad(r::text, 32, '0'), 'echo-loopback',"
                " 'ws://127.0.0.1:8765/twilio', CASE WHEN r % 2 = 1 THEN 'eu' ELSE 'us' END,"
                " '', '', '{}', :start + floor(r * :step) * interval '1 second',"
                " CASE WHEN r % 211 = 0 THEN 'failed' ELSE 'ok' END, '', '', 'synthetic', '', '',"
                " '' FROM generate_series(0, :runs - 1) r"
            ),
            params,
        )
        conn.execute(
            text(
                "INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name,"
                " target_url, region, ok, ttfb_ms, turn_latency_ms, pesq_wb, quality_errors,"
                " transcript, source, framework, service, flags, kind, caller)"
                " SELECT r.id, t.k, '', r.started_at, r.probe_name, r.target_url, r.region,"
                " r.status = 'ok', floor(random() * 1000), 200 + floor(random() * 1100),"
                " 1.5 + floor(random() * 300) / 100.0, '{}', 'check my order [PHONE]',"
                " 'synthetic', '', '', '{}', 'prompt', '{}'"
                " FROM probe_runs r, generate_series(0, 3) AS t(k) ORDER BY r.started_at, t.k"
            )
        )
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    store.close()
    return time.perf_counter() - t0


def _pg_admin(url: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )


def _pg_copy(url: str, name: str) -> str:
    """A fresh database ``name`` copied from the one at ``url``; its URL."""
    from sqlalchemy.engine import make_url

    source = make_url(url)
    admin = _pg_admin(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{source.database}"')
    admin.dispose()
    return source.set(database=name).render_as_string(hide_password=False)


def _pg_drop(url: str) -> None:
    from sqlalchemy.engine import make_url

    admin = _pg_admin(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}"')
    admin.dispose()


def _pg_size_mb(store: Store) -> float:
    with store.engine.connect() as conn:
        got = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
    return int(got or 0) / 1e6


def writer(url: str, stop: Any, out: Any) -> None:
    """Save a call every 20 ms; report (wait seconds of each save, saves that failed)."""
    store = Store.open(url)
    waits: list[float] = []
    lost = 0
    i = 0
    next_at = time.perf_counter()
    while not stop.is_set():
        run = RunResult(probe_name="writer", target_url="ws://w", started_at=NOW, status="ok")
        run.turns = [TurnResult(turn_index=k, started_at=NOW) for k in range(4)]
        asked = time.perf_counter()
        try:
            store.save_run(run)
            waits.append(time.perf_counter() - asked)
        except Exception:  # a save past the busy timeout: lost to the prune
            lost += 1
        i += 1
        next_at += 0.02
        time.sleep(max(0.0, next_at - time.perf_counter()))
    store.close()
    out.put((waits, lost))


def pacer(calls: int, ready: Any, stop: Any, out: Any) -> None:
    """Probe runs of ``calls`` calls back to back until ``stop`` (benchmarks/probe/bench_pacing.py).

    Reports every frame's send error (ms) over the runs that started after ``ready`` was set.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probe"))
    import bench_pacing as bp  # type: ignore[import-not-found]
    import numpy as np

    from voiceobs.probe import call as call_module
    from voiceobs.probe import runner as runner_module

    server = subprocess.Popen([sys.executable, "-c", bp._SERVER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    url = f"ws://127.0.0.1:{int(server.stdout.readline())}/twilio"
    call_module.Pacer = bp._RecordedPacer
    runner_module._run_calls = bp._timed_calls
    errors, failed, runs = [], 0, 0
    try:
        bp._run(url, 10)  # warm-up
        ready.set()
        while not stop.is_set():
            e, f, _ = bp._run(url, calls)
            errors.append(e)
            failed += f
            runs += 1
    finally:
        server.stdin.close()
        server.wait(10)
    every = np.concatenate(errors) if errors else np.zeros(0)
    out.put((every.tolist(), failed, runs))


def one_delete(store: Store) -> dict[str, float]:
    """The baseline: the same calls and turns in one unbatched transaction."""
    from sqlalchemy import text

    cutoff = POLICY.cutoff("turns", NOW)
    assert cutoff is not None
    bound: Any = cutoff if store.backend == "postgresql" else cutoff.replace(tzinfo=None)
    if store.backend != "postgresql":
        bound = bound.isoformat(sep=" ")
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        conn.execute(
            text("DELETE FROM turns WHERE run_id IN (SELECT id FROM probe_runs WHERE started_at < :b)"),
            {"b": bound},
        )
        conn.execute(text("DELETE FROM probe_runs WHERE started_at < :b"), {"b": bound})
    took = time.perf_counter() - t0
    return {"seconds": took, "longest_batch_s": took, "batches": 1}


def run_prune(store: Store) -> dict[str, float]:
    report = prune(store, POLICY, NOW)
    return {
        "seconds": report.seconds,
        "longest_batch_s": report.longest_batch_s,
        "batches": report.batches,
        "removed_turns": report.removed["turns"],
        "pages_freed": report.pages_freed,
    }


def contend(
    template: Path | str, work: Path, name: str, fn: Any, pacing_calls: int
) -> dict[str, Any]:
    """Copy the store, start the writer (and the probe), run ``fn`` (None: 8 s of nothing), stop.

    ``template``: a SQLite file, or a PostgreSQL URL (its database is copied).
    """
    pg = isinstance(template, str)
    path = work / f"{name}.db"
    if isinstance(template, str):
        url = _pg_copy(template, f"bench_prune_{name.replace(' ', '_')}")
    else:
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=writer, args=(url, stop, out))
    store = Store.open(url)
    pages_before = int(_pg_size_mb(store)) if pg else page_counts(store)[0]
    probe = None
    if pacing_calls:
        ready, probe_stop, probe_out = ctx.Event(), ctx.Event(), ctx.Queue()
        probe = ctx.Process(target=pacer, args=(pacing_calls, ready, probe_stop, probe_out))
        probe.start()
        ready.wait(120)
    proc.start()
    time.sleep(2.0)  # the writer is up and saving
    result: dict[str, Any] = fn(store) if fn is not None else (time.sleep(8.0) or {})
    time.sleep(0.5)
    stop.set()
    waits, lost = out.get(timeout=120)
    proc.join(60)
    if probe is not None:
        probe_stop.set()
        frame_errors, failed_calls, probe_runs = probe_out.get(timeout=300)
        probe.join(60)
        frame_errors.sort()
        result["pacing_p99_ms"] = (
            frame_errors[int(len(frame_errors) * 0.99) - 1] if frame_errors else float("nan")
        )
        result["pacing_max_ms"] = frame_errors[-1] if frame_errors else float("nan")
        result["pacing_runs"] = probe_runs
        result["pacing_failed"] = failed_calls
    if pg:
        pages_after, free = int(_pg_size_mb(store)), 0
        size = pages_after * 1e6
        store.close()
        _pg_drop(url)
    else:
        pages_after, free = page_counts(store)
        store.close()
        size = path.stat().st_size
        path.unlink()
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    waits_ms = sorted(w * 1000 for w in waits)
    return {
        **result,
        "saves": len(waits),
        "lost": lost,
        "wait_max_ms": waits_ms[-1] if waits_ms else float("nan"),
        "wait_p99_ms": waits_ms[int(len(waits_ms) * 0.99) - 1] if waits_ms else float("nan"),
        "wait_median_ms": statistics.median(waits_ms) if waits_ms else float("nan"),
        "pages": (pages_before, pages_after, free),
        "file_mb": size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--turns", type=int, default=1_000_000, help="turns in the store (4 a call)"
    )
    parser.add_argument(
        "--dir", default=None, help="where the store files go (default: a temp dir)"
    )
    parser.add_argument(
        "--pacing-calls",
        type=int,
        default=0,
        help="also run probe calls (this many at once, back to back) and report their pacing error",
    )
    parser.add_argument(
        "--url", default=None, help="a PostgreSQL URL: bench there (its database is replaced)"
    )
    args = parser.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-prune-"))
    work.mkdir(parents=True, exist_ok=True)
    template: Path | str = work / "template.db"
    try:
        if args.url:
            _pg_drop(args.url)
            from sqlalchemy.engine import make_url

            admin = _pg_admin(args.url)
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{make_url(args.url).database}"')
            admin.dispose()
            template = args.url
            took = generate_pg(args.url, args.turns)
            sized = Store.open(args.url)
            size = f"{_pg_size_mb(sized):.0f} MB (PostgreSQL, day partitions)"
            sized.close()
        else:
            assert isinstance(template, Path)
            took = generate(f"sqlite:///{template}", args.turns)
            size = f"{template.stat().st_size / 1e6:.0f} MB"
        print(f"store: {args.turns:,d} turns over 60 days, {size}, "
              f"written in {took:.1f} s; cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        rows = {
            "writer alone": contend(template, work, "alone", None, args.pacing_calls),
            "prune": contend(template, work, "prune", run_prune, args.pacing_calls),
            "one DELETE": contend(template, work, "delete", one_delete, args.pacing_calls),
        }
        print(f"{'contender':<14}{'seconds':>9}{'batches':>9}{'longest batch ms':>18}"
              f"{'saves':>7}{'lost':>6}{'wait max ms':>13}{'wait p99 ms':>13}{'median':>8}"
              f"  {'MB' if args.url else 'pages'} before -> after (free)")  # fmt: skip
        for name, r in rows.items():
            pages = r["pages"]
            print(f"{name:<14}{r.get('seconds', float('nan')):>9.1f}{r.get('batches', 0):>9.0f}"
                  f"{r.get('longest_batch_s', float('nan')) * 1000:>18.0f}{r['saves']:>7d}"
                  f"{r['lost']:>6d}{r['wait_max_ms']:>13.1f}{r['wait_p99_ms']:>13.1f}"
                  f"{r['wait_median_ms']:>8.1f}  {pages[0]:,d} -> {pages[1]:,d} ({pages[2]:,d})")  # fmt: skip
        if args.pacing_calls:
            print(f"probe pacing, {args.pacing_calls} calls at once, back to back during each:")
            for name, r in rows.items():
                print(f"  {name:<14} frame send error p99 {r['pacing_p99_ms']:.2f} ms, max "
                      f"{r['pacing_max_ms']:.2f} ms over {r['pacing_runs']} runs "
                      f"({r['pacing_failed']} calls failed)")  # fmt: skip
        p, d = rows["prune"], rows["one DELETE"]
        print(f"longest writer wait: prune {p['wait_max_ms']:.0f} ms vs one DELETE "
              f"{d['wait_max_ms']:.0f} ms: {d['wait_max_ms'] / p['wait_max_ms']:.1f}x shorter; "
              f"prune took {p['seconds'] / d['seconds']:.2f}x the baseline's time")  # fmt: skip
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
