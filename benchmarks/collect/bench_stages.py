"""CPU per span of each step the collector's server process does, measured one step at a time.

    .venv/bin/python benchmarks/collect/bench_stages.py [--spans 60000] [--pg URL]

The same realistic spans as ``bench_collect.py`` (``spans.py``) go through,
in this process and in order: decoding and redaction at the door (what a
decoder process does), receiving a request's redacted spans back from a
real decoder process, call assembly (the Pipecat adapter), redacting the
calls again on the recording path (with the door's texts marked, as the
collector does), and ``Store.replace_runs`` into a fresh PostgreSQL schema
(Python CPU, and the PostgreSQL backend's CPU read from ``/proc``). Each is
``time.process_time`` over the spans, so a busy host moves it less than
wall time. Run it on two commits to compare a change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pid_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=60_000)
    parser.add_argument(
        "--pg", default=PG, help="PostgreSQL URL (a fresh schema is made and dropped)"
    )
    args = parser.parse_args()

    from spans import conversation_requests
    from sqlalchemy import create_engine, text

    from voiceobs.collect import otlp
    from voiceobs.collect.decoders import DecoderPool, decode_and_admit
    from voiceobs.collect.ingest import _without_stored_spans
    from voiceobs.collect.runner import load_assembler
    from voiceobs.redact import default_redactor, redact_run
    from voiceobs.store import Store

    red = default_redactor()
    requests = [body for body, _ in conversation_requests(args.spans // 17, per_request=512)]
    out: dict[str, float] = {}

    c = time.process_time()
    admitted = [decode_and_admit(b, otlp.PROTOBUF, time.time_ns(), red)[1] for b in requests]
    n = sum(len(a.spans) for a in admitted)
    out["decode_and_redact_us"] = (time.process_time() - c) / n * 1e6

    pool = DecoderPool(1, red)
    pool.warm()

    async def receive() -> float:
        c = time.process_time()
        for body in requests:
            await pool.decode(body, None, otlp.PROTOBUF, 1 << 24, time.time_ns())
        return time.process_time() - c

    out["receive_from_decoder_us"] = asyncio.run(receive()) / n * 1e6
    pool.close()

    assembler = load_assembler(30.0)
    c = time.process_time()
    runs = []
    for a in admitted:
        red.mark_redacted(
            v for x in a.spans for v in x.record.attributes.values() if isinstance(v, str)
        )
        assembler.add(a.spans)
        runs += assembler.due(time.monotonic())
    runs += assembler.flush_all()
    out["assembly_us"] = (time.process_time() - c) / n * 1e6

    runs = [_without_stored_spans(r) for r in runs]
    c = time.process_time()
    clean = [redact_run(r, red) for r in runs]
    out["redact_calls_again_us"] = (time.process_time() - c) / n * 1e6

    schema = f"stages_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        store = Store.open(f"{args.pg}?options=-csearch_path%3D{schema}", create=True)
        with store.engine.connect() as conn:
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar() or 0)
        store.replace_runs(clean[:5])  # the pool's one connection is now this backend
        c, b0 = time.process_time(), _pid_cpu_s(backend)
        for i in range(5, len(clean), 50):
            store.replace_runs(clean[i : i + 50])
        out["replace_runs_python_us"] = (time.process_time() - c) / n * 1e6
        out["replace_runs_postgres_us"] = (_pid_cpu_s(backend) - b0) / n * 1e6
        store.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    print(f"{n} spans, {len(clean)} calls; CPU per span:")
    for name, us in out.items():
        print(f"  {name:<28} {us:6.1f} µs")


if __name__ == "__main__":
    main()
