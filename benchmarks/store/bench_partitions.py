"""Benchmark: drop a 30-day-old day partition of ``turns`` against DELETE of the same rows, PostgreSQL.

Two stores in one database, same rows: ``plain`` (schema 0005, what a prune
without partitions must do: ``DELETE ... WHERE started_at < cutoff``, then
``VACUUM`` to make the space reusable) and ``partitioned`` (head:
``voiceobs.store.partitions.drop_partitions_before``). Both hold ``--days``
days of turns (ten per call) ending today; the cutoff is the end of the
oldest day, 30 days back, so exactly that day's rows go.

While each removal runs, a writer inserts one call with one turn for today
every 10 ms on its own connection: its slowest insert is how long the
removal held up the store's writers.

    .venv/bin/python benchmarks/store/bench_partitions.py \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/bench_partitions
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import create_engine, text

from voiceobs.store import Store, make_engine, migrations
from voiceobs.store.partitions import drop_partitions_before, ensure_partitions

TURNS_PER_CALL = 10


def schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def fresh_schema(url: str, schema: str) -> str:
    admin = create_engine(url)
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema_url(url, schema)


def fill(store: Store, start: datetime, days: int, turns_per_day: int) -> float:
    """Calls and their turns spread evenly over ``days`` days from ``start``, in SQL."""
    runs = days * turns_per_day // TURNS_PER_CALL
    step = days * 86_400 / runs
    params = {"start": start, "runs": runs, "step": step}
    t0 = time.perf_counter()
    with store.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline, protocol,"
                " labels, started_at, status, probe_host, voiceobs_version, source, framework,"
                " service, deployment) SELECT lpad(to_hex(r), 32, '0'), 'bench', 'ws://bench',"
                " 'r' || (r % 3), 'echo', 'twilio', '{}', :start + r * :step * interval '1 second',"
                " 'ok', 'h', 'bench', 'synthetic', 'voiceobs', '', ''"
                " FROM generate_series(0, :runs - 1) r"
            ),
            params,
        )
        c.execute(
            text(
                "INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name,"
                " target_url, region, ok, turn_latency_ms, quality_errors, source, framework,"
                " service, flags, kind, caller) SELECT lpad(to_hex(r), 32, '0'), t, 'p',"
                " :start + (r * :step + t) * interval '1 second', 'bench', 'ws://bench',"
                " 'r' || (r % 3), true, 400 + r % 200, '{}', 'synthetic', 'voiceobs', '', '{}',"
                " 'prompt', '{}' FROM generate_series(0, :runs - 1) r,"
                f" generate_series(0, {TURNS_PER_CALL - 1}) t"
            ),
            params,
        )
        c.execute(text("ANALYZE probe_runs"))
        c.execute(text("ANALYZE turns"))
    return time.perf_counter() - t0


class Writer:
    """Inserts a call and a turn every 10 ms; remembers its slowest insert."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.stop = threading.Event()
        self.worst = 0.0
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        now = datetime.now(UTC)
        while not self.stop.is_set():
            rid = uuid.uuid4().hex
            t0 = time.perf_counter()
            with self.engine.begin() as c:
                c.execute(
                    text(
                        "INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline,"
                        " protocol, labels, started_at, status, probe_host, voiceobs_version,"
                        " source, framework, service, deployment) VALUES (:id, 'w', 'ws://w', '',"
                        " '', '', '{}', :at, 'ok', 'h', 'w', 'synthetic', '', '', '')"
                    ),
                    {"id": rid, "at": now},
                )
                c.execute(
                    text(
                        "INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name,"
                        " target_url, region, ok, quality_errors, source, framework, service,"
                        " flags, kind, caller) VALUES (:id, 0, 'p', :at, 'w', 'ws://w', '', true,"
                        " '{}', 'synthetic', '', '', '{}', 'prompt', '{}')"
                    ),
                    {"id": rid, "at": now},
                )
            self.worst = max(self.worst, time.perf_counter() - t0)
            self.count += 1
            self.stop.wait(0.01)

    def __enter__(self) -> Writer:
        self.thread.start()
        time.sleep(0.2)  # the writer is in its stride before the removal starts
        self.worst = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a PostgreSQL database to use (schemas made)")
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--turns-per-day", type=int, default=30_000)
    args = parser.parse_args()

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=args.days - 1)  # the oldest day: 30 days back at --days 31
    cutoff = start + timedelta(days=1)

    plain_url = fresh_schema(args.url, "bench_plain")
    engine = make_engine(plain_url)
    command.upgrade(migrations.alembic_config(engine), "0005")
    engine.dispose()
    plain = Store.open(plain_url, check_schema=False)
    part_url = fresh_schema(args.url, "bench_partitioned")
    part = Store.open(part_url, create=True)
    ensure_partitions(part, start, ahead=timedelta(days=args.days))

    for name, store in (("plain", plain), ("partitioned", part)):
        took = fill(store, start, args.days, args.turns_per_day)
        with store.engine.connect() as c:
            n = c.execute(text("SELECT count(*) FROM turns")).scalar()
        print(f"{name}: {n:,} turns over {args.days} days stored in {took:.1f} s")

    with Writer(plain_url) as w:
        t0 = time.perf_counter()
        with plain.engine.begin() as c:
            deleted = c.execute(
                text("DELETE FROM turns WHERE started_at < :cutoff"), {"cutoff": cutoff}
            ).rowcount
        delete_s = time.perf_counter() - t0
    delete_worst = w.worst
    t0 = time.perf_counter()
    with plain.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM turns"))
    vacuum_s = time.perf_counter() - t0

    with Writer(part_url) as w:
        t0 = time.perf_counter()
        dropped = drop_partitions_before(part, "turns", cutoff)
        drop_s = time.perf_counter() - t0
    drop_worst = w.worst

    print(f"rows removed: DELETE {deleted:,}, drop {dropped:,} (day {start:%Y-%m-%d})")
    print(
        f"baseline DELETE (plain):     {delete_s * 1000:9.1f} ms, then VACUUM {vacuum_s * 1000:.1f} ms"
    )
    print(f"drop_partitions_before:      {drop_s * 1000:9.1f} ms (no VACUUM needed)")
    print(f"ratio DELETE / drop:         {delete_s / drop_s:9.1f}x"
          f" ({(delete_s + vacuum_s) / drop_s:.1f}x with the VACUUM)")  # fmt: skip
    print(
        f"slowest concurrent insert:   DELETE {delete_worst * 1000:.1f} ms, drop {drop_worst * 1000:.1f} ms"
    )

    plain.close()
    part.close()
    admin = create_engine(args.url)
    with admin.begin() as c:  # leave no benchmark data behind
        c.execute(text('DROP SCHEMA "bench_plain" CASCADE'))
        c.execute(text('DROP SCHEMA "bench_partitioned" CASCADE'))
    admin.dispose()


if __name__ == "__main__":
    main()
