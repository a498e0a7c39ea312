"""Each query the dashboard pages ask over a wide range, timed alone: where a cold page's time goes.

Runs every cached query of the Overview, Latency, Quality, Calls and
Capacity pages once over the last ``--days`` days of the store at ``--url``
(with the histograms first brought up to date, as `voiceobs watch` keeps
them), and prints the seconds of each, slowest first. Baseline in the same
run: the same query forced onto the exact path (``analytics.ROLLUP_FROM``
raised past the range), so each line reads "histograms vs exact"; for the
filter drop-downs, ``SELECT DISTINCT`` (what they ran before the index walk).

    .venv/bin/python benchmarks/dashboard/bench_queries.py --url sqlite:////tmp/big.db --days 30
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select

from voiceobs.store import ProbeRun, Store, analytics, rollups
from voiceobs.store.analytics import DEFAULT_QUALITY_THRESHOLDS, QUALITY_METRICS


def queries(store: Store, f: analytics.Filters) -> dict[str, Callable[[], Any]]:
    """The pages' questions (dashboards/dashkit/data.py), by the page that asks them."""
    bucket = analytics.chart_bucket_seconds(store, f)
    metrics = tuple(QUALITY_METRICS)
    return {
        "latency: counts": lambda: analytics.counts(store, f),
        "latency: by_source": lambda: analytics.by_source(store, f),
        "latency: p50/p95/p99 per target": lambda: analytics.percentiles_over_time(
            store, f, bucket_s=bucket
        ),
        "latency: ttfb, connect, dynamics": lambda: [
            analytics.percentiles_over_time(store, f, m, bucket_s=bucket, group_by="all")
            for m in ("ttfb_ms", "connect_ms", "greeting_ms", "barge_in_stop_ms")
        ],
        "latency: measured": lambda: analytics.measured(
            store, f, ("greeting_ms", "endpoint_wait_ms", "barge_in_stop_ms", "clear_ms")
        ),
        "latency: stages": lambda: analytics.stage_breakdown(store, f),
        "latency: stages over time": lambda: analytics.stage_breakdown_over_time(
            store, f, bucket_s=bucket
        ),
        "quality: means over time": lambda: analytics.quality_over_time(
            store, f, metrics, bucket_s=bucket
        ),
        "quality: flagged": lambda: analytics.flagged_turns(store, f, DEFAULT_QUALITY_THRESHOLDS),
        "quality: distribution": lambda: analytics.distribution(store, f, "pesq_wb"),
        "quality: by SNR": lambda: analytics.quality_by_snr(store, f, ("wer",)),
        "calls: newest 200": lambda: analytics.search_runs(store, f),
        "filters: probes, targets, regions": lambda: analytics.dimensions(store),
        "capacity: asr": lambda: analytics.capacity(store, f, "asr"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--no-exact", action="store_true", help="skip the exact baseline")
    args = ap.parse_args()
    store = Store.open(args.url)
    t = time.perf_counter()
    rollups.refresh_all(store, [])
    print(f"histograms brought up to date in {time.perf_counter() - t:.1f} s")
    now = datetime.now(UTC)
    f = analytics.Filters(since=now - timedelta(days=args.days), until=now)
    got: dict[str, tuple[float, float | None]] = {}
    for name, fn in queries(store, f).items():
        t = time.perf_counter()
        fn()
        fast = time.perf_counter() - t
        got[name] = (fast, None)
        print(f"  {name:<36} {fast:7.2f} s", flush=True)
    # The filter drop-downs' baseline: SELECT DISTINCT, which reads every call.
    t = time.perf_counter()
    with store.session() as s:
        for col in (ProbeRun.probe_name, ProbeRun.target_url, ProbeRun.region):
            list(s.scalars(select(col).distinct()))
    distinct_s = time.perf_counter() - t
    print(f"  {'filters by SELECT DISTINCT (baseline)':<36} {distinct_s:7.2f} s", flush=True)
    if not args.no_exact:
        real = analytics.ROLLUP_FROM
        analytics.ROLLUP_FROM = timedelta(days=100_000)
        try:
            for name, fn in queries(store, f).items():
                t = time.perf_counter()
                fn()
                got[name] = (got[name][0], time.perf_counter() - t)
                print(f"  exact {name:<30} {got[name][1]:7.2f} s", flush=True)
        finally:
            analytics.ROLLUP_FROM = real
    print(f"\nlast {args.days:g} days, {args.url.split('/')[-1]}: query, histograms, exact")
    got["filters: probes, targets, regions"] = (
        got["filters: probes, targets, regions"][0], distinct_s
    )
    for name, (fast, exact) in sorted(got.items(), key=lambda kv: -kv[1][0]):
        ratio = "" if exact is None else f"{exact:8.2f} s  {exact / max(fast, 1e-9):6.1f}x"
        print(f"  {name:<36} {fast:7.2f} s {ratio}")
    print(f"  {'sum':<36} {sum(v[0] for v in got.values()):7.2f} s")
    store.close()


if __name__ == "__main__":
    main()
