"""Scrape cost of ``voiceobs metrics serve`` on a large store: on the rollups, against raw reads.

A store is filled with ``--turns`` turns over 30 days (``seed_sql.py``'s
month of calls), then the one rollup refresh builds its rows (timed once:
what an upgrade or a bulk import costs). Two exporters scrape it, each
cold first (a new process) and then steady (5 calls saved before each
scrape, as probes keep writing):

* ``rollups``: ``voiceobs.metrics.StoreCollector``, which refreshes the
  shared rollups and reads the hours that changed;
* ``raw reads`` (the baseline, ``baseline_scrape.py``): the exporter before
  it, whose first scrape grouped every stored turn and whose every scrape
  grouped every stored call.

Prometheus gives a scrape 10 s by default; a slower one is a failed scrape.

    .venv/bin/python benchmarks/store/bench_scrape.py --turns 1000000
    .venv/bin/python benchmarks/store/bench_scrape.py --turns 10000000 --url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_scrape import OldStoreCollector
from seed_sql import seed_sql

from voiceobs.metrics import StoreCollector
from voiceobs.results import RunResult, TurnResult, utcnow
from voiceobs.store import Store, rollups
from voiceobs.store.retention import RetentionPolicy

STEADY = 5


def _new_calls(n: int) -> list[RunResult]:
    now = utcnow()
    out = []
    for i in range(n):
        run = RunResult(probe_name="bench-probe", target_url="ws://echo.voice.internal/twilio",
                        region="eu-west", started_at=now - timedelta(seconds=i))  # fmt: skip
        run.turns = [TurnResult(t, started_at=run.started_at, turn_latency_ms=400.0 + 10 * t) for t in range(2)]
        out.append(run)
    return out


def _scrapes(store: Store, make: Callable[[], Collector]) -> tuple[float, list[float], int]:
    registry = CollectorRegistry()
    t = time.perf_counter()
    registry.register(make())
    size = len(generate_latest(registry))
    first = time.perf_counter() - t
    steady = []
    for _ in range(STEADY):
        store.save_runs(_new_calls(5))
        t = time.perf_counter()
        generate_latest(registry)
        steady.append(time.perf_counter() - t)
    return first, steady, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=1_000_000)
    ap.add_argument("--url", help="an empty database (default: a SQLite file in a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/scrape.db"
        store = Store.open(url, create=True)
        if store.count_runs():
            raise SystemExit(f"bench_scrape: {store.display_url} holds calls; give it an empty database")
        print(f"store: {store.backend}, seeding {args.turns:,} turns ...", flush=True)
        print(f"  seeded in {seed_sql(store, args.turns):.0f} s", flush=True)
        t = time.perf_counter()
        rollups.refresh_metric_rollups(store)
        print(f"  exporter rollups built from the raw rows in {time.perf_counter() - t:.1f} s (once)")
        keep = RetentionPolicy()
        results = {}
        for name, make in (
            ("rollups", lambda: StoreCollector(store, min_interval_s=0, retention=keep)),
            ("raw reads (baseline)", lambda: OldStoreCollector(store, min_interval_s=0)),
        ):
            first, steady, size = _scrapes(store, make)
            results[name] = (first, statistics.median(steady))
            print(f"{name:>22}: first scrape {first:8.3f} s, steady median {statistics.median(steady):7.3f} s"
                  f" (max {max(steady):.3f} s), {size:,} bytes", flush=True)  # fmt: skip
        (nf, ns), (of, os_) = results["rollups"], results["raw reads (baseline)"]
        print(f"ratio (baseline / rollups): first scrape {of / nf:.1f}x, steady scrape {os_ / ns:.1f}x")
        store.close()


if __name__ == "__main__":
    main()
