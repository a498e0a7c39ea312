"""How many spans per second one ``voiceobs collect`` process ingests and stores, with redaction.

    .venv/bin/python benchmarks/collect/bench_collect.py                      # SQLite and PostgreSQL
    .venv/bin/python benchmarks/collect/bench_collect.py --backends postgresql --spans 200000

For each backend it starts a real ``voiceobs collect`` process (the CLI, on
a fresh SQLite file or a fresh PostgreSQL schema) and, from a separate load
process, POSTs pre-encoded OTLP protobuf requests of 512 realistic voice
spans (turn/stt/llm/tts with about ten attributes each, free text, some
personal data: see ``spans.py``) over keep-alive connections, retrying
after Retry-After on 429 like the SDK exporter does.

* **max**: every span sent as fast as it is accepted; spans/s is the number
  sent over the time from the first send until ``SELECT count(*)`` finds
  them all. The server's CPU time per span is read from ``/proc``.
* **paced**: a steady ``--rate`` spans/s for ``--paced-seconds``; for each
  request, the time from its 200 (accepted) until a SELECT finds its last
  span (receipt to queryable), sampled every 25 ms.
* **baseline** (named, same run, same machine): the same collector with
  spans written one ORM insert per span (``Store.save_spans`` per span,
  ``baseline_server.py``), max mode on ``--baseline-spans`` spans.

The ratio printed is bulk max spans/s over baseline max spans/s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
sys.path.insert(0, str(ROOT))  # this checkout's voiceobs, as its child processes get


# -- the load process -------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> None:
    import httpx
    from sqlalchemy import create_engine, text

    sys.path.insert(0, str(HERE))
    from spans import conversation_requests

    per_conv = 4 * 4 + 1
    requests = conversation_requests(-(-args.spans // per_conv), per_request=512, seed=args.seed)
    total = sum(len(ids) for _, ids in requests)
    engine = create_engine(args.db)
    url = f"{args.url}/v1/traces"
    accepted: dict[int, float] = {}
    answered_in: list[float] = []
    found: dict[int, float] = {}
    refused = [0]
    lock = threading.Lock()
    next_index = [0]
    per_request = len(requests[0][1])
    t0 = time.time() + 0.2

    def sender() -> None:
        with httpx.Client(timeout=120, headers={"Content-Type": "application/x-protobuf"}) as client:
            while True:
                with lock:
                    i = next_index[0]
                    next_index[0] += 1
                if i >= len(requests):
                    return
                if args.rate:
                    due = t0 + i * per_request / args.rate
                    if (wait := due - time.time()) > 0:
                        time.sleep(wait)
                body = requests[i][0]
                posted = time.time()
                while True:
                    r = client.post(url, content=body)
                    if r.status_code == 200:
                        break
                    if r.status_code in (429, 503):
                        with lock:
                            refused[0] += 1
                        time.sleep(float(r.headers.get("retry-after", "1")))
                        continue
                    raise SystemExit(f"unexpected {r.status_code}: {r.text[:200]}")
                accepted[i] = time.time()
                answered_in.append(accepted[i] - posted)

    def poller() -> None:
        done = threading.Event()
        while not done.is_set():
            pending = [i for i in list(accepted) if i not in found]
            if pending:
                keys = {requests[i][1][-1]: i for i in pending[:500]}
                traces = sorted({t for t, _ in keys})
                with engine.connect() as c:
                    rows = c.execute(
                        text("SELECT trace_id, span_id FROM spans WHERE trace_id IN :t").bindparams(
                            __import__("sqlalchemy").bindparam("t", expanding=True)
                        ),
                        {"t": traces},
                    ).all()
                now = time.time()
                for row in rows:
                    i = keys.get((row[0], row[1]))
                    if i is not None:
                        found.setdefault(i, now)
            if len(found) == len(requests):
                return
            time.sleep(0.025)

    watch = threading.Thread(target=poller, daemon=True)
    watch.start()
    cpu_start = time.process_time()
    start = time.time()
    threads = [threading.Thread(target=sender) for _ in range(args.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent_at = time.time()
    while True:
        with engine.connect() as c:
            stored = int(c.execute(text("SELECT count(*) FROM spans")).scalar() or 0)
        if stored >= total:
            break
        if time.time() - sent_at > 600:
            raise SystemExit(f"only {stored} of {total} spans stored after 10 minutes")
        time.sleep(0.05)
    stored_at = time.time()
    watch.join(60)
    lags = sorted(found[i] - accepted[i] for i in found if i in accepted)

    def pct(p: float, values: list[float] | None = None) -> float | None:
        values = lags if values is None else values
        return round(values[min(len(values) - 1, int(p * len(values)))], 3) if values else None

    answered_in.sort()

    print(json.dumps({
        "spans": total, "requests": len(requests), "seconds": round(stored_at - start, 3),
        "send_seconds": round(sent_at - start, 3), "spans_per_s": round(total / (stored_at - start), 1),
        "refused": refused[0], "lag_p50_s": pct(0.5), "lag_p95_s": pct(0.95), "lag_p99_s": pct(0.99),
        "lag_max_s": round(lags[-1], 3) if lags else None, "lag_samples": len(lags),
        "answer_p50_s": pct(0.5, answered_in), "answer_p95_s": pct(0.95, answered_in),
        "load_cpu_s": round(time.process_time() - cpu_start, 2),
    }))  # fmt: skip


# -- the cost of each stage, one thread, in this process ------------------------------------------


def _stages(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    """CPU microseconds per span of decode, redaction at the door and the bulk write, one by one."""
    sys.path.insert(0, str(HERE))
    from spans import conversation_requests

    from voiceobs.collect import otlp
    from voiceobs.collect.door import admit
    from voiceobs.redact import default_redactor
    from voiceobs.store import Store

    requests = conversation_requests(-(-args.stage_spans // 17), seed=args.seed + 1)
    n = sum(len(ids) for _, ids in requests)
    out: dict[str, float] = {}
    t = time.process_time()
    decoded = [otlp.decode(body, otlp.PROTOBUF, time.time_ns()) for body, _ in requests]
    out["decode_us"] = (time.process_time() - t) / n * 1e6
    redactor = default_redactor()
    t = time.process_time()
    admitted = [admit(d, redactor) for d in decoded]
    out["redact_us"] = (time.process_time() - t) / n * 1e6
    records = [x.record for a in admitted for x in a.spans]
    for backend in args.backends.split(","):
        db, drop = _fresh_db(backend, tmp)
        store = Store.open(db, create=True)
        try:
            t, wall = time.process_time(), time.perf_counter()
            for i in range(0, len(records), args.batch_size):
                store.save_spans_bulk(records[i : i + args.batch_size])
            out[f"write_{backend}_us"] = (time.process_time() - t) / n * 1e6
            out[f"write_{backend}_wall_us"] = (time.perf_counter() - wall) / n * 1e6
        finally:
            store.close()
            drop()
    return {k: round(v, 1) for k, v in out.items()}


# -- orchestration ----------------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s(pid: int) -> float:
    """CPU seconds of the server's live child processes (its decoder workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _fresh_db(backend: str, tmp: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        path = tmp / f"{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{PG}?options=-csearch_path%3D{schema}", drop


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(mode: str, backend: str, spans: int, rate: float, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    db, drop = _fresh_db(backend, tmp)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VOICEOBS_DATA_DIR": str(tmp / f"data-{port}")}
    if mode == "baseline":
        cmd = [sys.executable, str(HERE / "baseline_server.py"), "--db", db, "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "voiceobs.cli.main", "collect", "--db", db, "--port", str(port),
               "--queue-size", str(args.queue_size), "--batch-size", str(args.batch_size),
               "--decoders", args.decoders]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        import httpx

        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit(f"{mode} server did not start: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.2)
        cpu0, child0 = _cpu_s(server.pid), _children_cpu_s(server.pid)
        spy = None
        if args.profile and mode == "bulk" and not rate:
            out = Path(args.profile) / f"{backend}.collapsed"
            out.parent.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(server.pid), "--format", "raw", "--rate", "250",
                 "--threads", "--gil", "--output", str(out), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        load = subprocess.run(
            [sys.executable, __file__, "--role", "load", "--url", f"http://127.0.0.1:{port}", "--db", db,
             "--spans", str(spans), "--rate", str(rate), "--senders", str(args.senders), "--seed", str(args.seed)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        cpu = _cpu_s(server.pid) - cpu0
        child = _children_cpu_s(server.pid) - child0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        if load.returncode != 0:
            raise SystemExit(f"load failed: {load.stderr[-2000:]}")
        result = json.loads(load.stdout.strip().splitlines()[-1])
        result["server_cpu_us_per_span"] = round(cpu / result["spans"] * 1e6, 1)
        result["server_cpu_s"] = round(cpu, 2)
        result["decoders_cpu_us_per_span"] = round(child / result["spans"] * 1e6, 1)
        return result
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(120)
        except subprocess.TimeoutExpired:
            server.kill()
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", default="bench", choices=["bench", "load"])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--spans", type=int, default=150_000, help="spans in the max run")
    parser.add_argument("--baseline-spans", type=int, default=4_000)
    parser.add_argument("--rate", type=float, default=10_000, help="spans/s of the paced run")
    parser.add_argument("--paced-seconds", type=float, default=20)
    parser.add_argument("--senders", type=int, default=4, help="concurrent connections")
    parser.add_argument("--queue-size", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--decoders", default="auto", help="voiceobs collect --decoders (0: decode on the server's core)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stage-spans", type=int, default=30_000, help="spans in the per-stage costs")
    parser.add_argument("--profile", default="", help="directory for py-spy profiles of the max run")
    parser.add_argument("--url", default="")
    parser.add_argument("--db", default="")
    args = parser.parse_args()
    if args.role == "load":
        _load(args)
        return
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"stage costs (CPU us/span, one thread): {json.dumps(_stages(args, tmp))}", flush=True)
        for backend in args.backends.split(","):
            base = _run("baseline", backend, args.baseline_spans, 0, args, tmp)
            print(f"{backend:10s} baseline (one ORM insert per span)  {json.dumps(base)}", flush=True)
            top = _run("bulk", backend, args.spans, 0, args, tmp)
            print(f"{backend:10s} voiceobs collect, max               {json.dumps(top)}", flush=True)
            paced = _run("bulk", backend, int(args.rate * args.paced_seconds), args.rate, args, tmp)
            print(f"{backend:10s} voiceobs collect, paced {args.rate:.0f}/s    {json.dumps(paced)}", flush=True)
            print(
                f"{backend:10s} RESULT max {top['spans_per_s']:.0f} spans/s vs baseline {base['spans_per_s']:.0f} "
                f"= {top['spans_per_s'] / base['spans_per_s']:.1f}x; at {args.rate:.0f}/s offered: "
                f"{paced['spans_per_s']:.0f} spans/s stored, receipt to queryable p50 {paced['lag_p50_s']} s, "
                f"p95 {paced['lag_p95_s']} s, max {paced['lag_max_s']} s",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.2f} at the end", flush=True)


if __name__ == "__main__":
    main()
