"""Fill a store with ``seed.py``'s month of calls, written by the database itself: 10 M turns in minutes.

``seed.py`` builds every row in Python (about 2.5 minutes per million turns
on the benchmark host, and slower as a SQLite file outgrows its cache); the
10-million-turn figures need something faster. This writes the same shape
with ``INSERT ... SELECT`` over a number series, in chunks of calls, each its
own transaction: two turns per call, four targets in two regions, a daily
latency swing and a slow region, 1 % failed calls, one call in twenty from
production (the bot's own figures only), quality scores, and the five stage
spans with their cost drivers on about one synthetic call in sixteen. Values
come from a hash of the call number, not ``random()``, so the two backends
hold the same rows and a rerun reproduces them.

    seed_sql(store, 10_000_000)   # SQLite or PostgreSQL (day partitions made first)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from voiceobs.store import Store
from voiceobs.store.partitions import ensure_partitions

#: Calls per INSERT (and transaction).
CHUNK_RUNS = 250_000
_TARGETS = [
    "ws://echo.voice.internal/twilio",
    "ws://agent.voice.internal/twilio",
    "ws://codec.voice.internal/pcm",
    "ws://agent-canary.voice.internal/twilio",
]


class _Sql:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def series(self, lo: int, hi: int) -> str:
        """``FROM`` clause of the integers ``i`` in ``[lo, hi)``."""
        if self.pg:
            return f"generate_series({lo}::bigint, {hi - 1}::bigint) AS c(i)"
        return (
            f"(WITH RECURSIVE c(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM c WHERE i < {hi - 1})"
            " SELECT i FROM c) AS c"
        )

    def ts(self, epoch: str) -> str:
        if self.pg:
            return f"to_timestamp({epoch})"
        return f"(strftime('%Y-%m-%d %H:%M:%f', {epoch}, 'unixepoch') || '000')"

    def hex(self, n: str, width: int) -> str:
        if self.pg:
            return f"lpad(to_hex({n}), {width}, '0')"
        return f"printf('%0{width}x', {n})"

    def least(self, a: str, b: str) -> str:
        return f"least({a}, {b})" if self.pg else f"min({a}, {b})"

    def greatest(self, a: str, b: str) -> str:
        return f"greatest({a}, {b})" if self.pg else f"max({a}, {b})"

    def mod(self, a: str, b: int) -> str:
        return f"mod({a}, {b})" if self.pg else f"(({a}) % {b})"

    def json(self, key: str, value: str) -> str:
        if self.pg:
            return f"json_build_object('{key}', {value})"
        return f"json_object('{key}', {value})"

    def empty(self) -> str:
        return "'{}'::json" if self.pg else "'{}'"

    def truth(self, cond: str) -> str:
        return f"({cond})" if self.pg else f"(CASE WHEN {cond} THEN 1 ELSE 0 END)"


def _u(q: _Sql, n: str, salt: int) -> str:
    """A uniform value in (0, 1) from the integer expression ``n``: a multiplicative hash."""
    return f"(({q.mod(f'({n}) * 2654435761 + {salt * 97531}', 1_000_003)} + 0.5) / 1000003.0)"


def _normal(q: _Sql, n: str, salt: int) -> str:
    """About N(0, 1): a sum of three uniforms, centred and scaled."""
    return f"(({_u(q, n, salt)} + {_u(q, n, salt + 1)} + {_u(q, n, salt + 2)} - 1.5) * 2.0)"


def seed_sql(store: Store, turns: int, *, now: datetime | None = None, days: int = 30) -> float:
    """Insert ``turns`` turns (two per call) over the ``days`` before ``now``; seconds taken."""
    q = _Sql(store.backend)
    now = now or datetime.now(UTC)
    start = now - timedelta(days=days)
    if store.backend == "postgresql":
        ensure_partitions(store, start - timedelta(days=1), ahead=timedelta(days=days + 9))
    n_runs = turns // 2
    step = days * 86_400 / n_runs
    t0 = time.perf_counter()
    for lo in range(0, n_runs, CHUNK_RUNS):
        hi = min(n_runs, lo + CHUNK_RUNS)
        with store.engine.begin() as conn:
            for statement in (_runs(q, lo, hi, start, step), _turns(q, lo, hi, start, step),
                              _spans(q, lo, hi, start, step)):  # fmt: skip
                conn.exec_driver_sql(statement)
    with store.engine.connect() as conn:
        if store.backend == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return time.perf_counter() - t0


def _common(q: _Sql, start: datetime, step: float) -> dict[str, str]:
    epoch = f"({start.timestamp()} + c.i * {step})"
    target = "CASE " + " ".join(f"WHEN {q.mod('c.i', 4)} = {k} THEN '{t}'" for k, t in enumerate(_TARGETS)) + " END"
    return {
        "epoch": epoch,
        "prod": f"{q.mod('c.i', 20)} = 7",
        "failed": f"({q.mod('c.i', 20)} <> 7 AND {q.mod('c.i * 7919', 100)} = 0)",
        "target": target,
        "region": f"CASE WHEN {q.mod('c.i / 4', 2)} = 0 THEN 'eu-west' ELSE 'us-east' END",
        "probe": f"'probe-' || {q.mod('c.i', 4)}",
        "id": q.hex("c.i", 32),
        "trace": q.hex("c.i + 1099511627776", 32),
    }


def _runs(q: _Sql, lo: int, hi: int, start: datetime, step: float) -> str:
    c = _common(q, start, step)
    prod = c["prod"]
    return f"""
        INSERT INTO probe_runs (id, probe_name, target_url, region, pipeline, protocol, labels,
            started_at, finished_at, status, failure_class, failure_detail, probe_host,
            voiceobs_version, trace_id, source, framework, service, deployment)
        SELECT {c['id']},
            CASE WHEN {prod} THEN 'support-bot' ELSE {c['probe']} END,
            CASE WHEN {prod} THEN 'pipecat://support-bot' ELSE {c['target']} END,
            CASE WHEN {prod} THEN 'eu-west' ELSE {c['region']} END,
            CASE WHEN {prod} THEN '' ELSE 'agent' END, CASE WHEN {prod} THEN '' ELSE 'twilio' END,
            {q.empty()}, {q.ts(c['epoch'])}, {q.ts(c['epoch'] + ' + 6')},
            CASE WHEN {c['failed']} THEN 'failed' ELSE 'ok' END,
            CASE WHEN {c['failed']} THEN 'timeout' END,
            CASE WHEN {c['failed']} THEN 'no reply within 5 s' END,
            CASE WHEN {prod} THEN '' ELSE 'bench' END, 'bench', {c['trace']},
            CASE WHEN {prod} THEN 'production' ELSE 'synthetic' END,
            CASE WHEN {prod} THEN 'pipecat' ELSE '' END,
            CASE WHEN {prod} THEN 'support-bot' ELSE '' END,
            CASE WHEN {prod} THEN 'prod' ELSE '' END
        FROM {q.series(lo, hi)}"""


def _turns(q: _Sql, lo: int, hi: int, start: datetime, step: float) -> str:
    c = _common(q, start, step)
    prod, failed = c["prod"], c["failed"]
    n = "(c.i * 2 + t.k)"
    whole = f"CAST({c['epoch']} AS BIGINT) / 3600"
    hour = q.mod(whole, 24)
    swing = f"(60.0 * (1 + (({hour} - 12) / 12.0) * (({hour} - 12) / 12.0)))"
    base = f"(380.0 + CASE WHEN {q.mod('c.i / 4', 2)} = 1 THEN 120.0 ELSE 0.0 END + {swing})"
    gamma = f"(-40.0 * (ln({_u(q, n, 1)}) + ln({_u(q, n, 2)})))"
    lat = f"CASE WHEN {prod} OR {failed} THEN NULL ELSE {base} + {gamma} END"
    synth = f"CASE WHEN {prod} OR {failed} THEN NULL ELSE"
    at = f"{c['epoch']} + CASE WHEN {prod} THEN 8 ELSE 2 END * t.k"
    pairs = "(SELECT 0 AS k UNION ALL SELECT 1)" if not q.pg else "(VALUES (0), (1))"
    return f"""
        INSERT INTO turns (run_id, turn_index, prompt_id, started_at, probe_name, target_url,
            region, ok, failure_class, connect_ms, ttfb_ms, turn_latency_ms, pesq_wb, stoi,
            dnsmos_ovrl, wer, quality_errors, transcript, source, framework, service,
            reported_latency_ms, stt_ttfb_ms, llm_ttfb_ms, tts_ttfb_ms, input_tokens,
            output_tokens, tts_characters, flags, kind, caller)
        SELECT {c['id']}, t.k, CASE WHEN {prod} THEN '' ELSE 'p' || t.k END, {q.ts(at)},
            CASE WHEN {prod} THEN 'support-bot' ELSE {c['probe']} END,
            CASE WHEN {prod} THEN 'pipecat://support-bot' ELSE {c['target']} END,
            CASE WHEN {prod} THEN 'eu-west' ELSE {c['region']} END,
            {q.truth(f'NOT {failed}')}, CASE WHEN {failed} THEN 'timeout' END,
            CASE WHEN {prod} THEN NULL ELSE 10 + 20 * {_u(q, n, 3)} END,
            {lat} - 35, {lat},
            {synth} {q.least('4.5', f'3.8 + 0.35 * {_normal(q, n, 4)}')} END,
            {synth} {q.least('1.0', f'0.94 + 0.03 * {_normal(q, n, 7)}')} END,
            {synth} 3.3 + 0.2 * {_normal(q, n, 10)} END,
            {synth} {q.greatest('0.0', f'0.05 + 0.06 * {_normal(q, n, 13)}')} END,
            {q.empty()}, CASE WHEN {prod} THEN NULL ELSE 'i would like to check my order' END,
            CASE WHEN {prod} THEN 'production' ELSE 'synthetic' END,
            CASE WHEN {prod} THEN 'pipecat' ELSE '' END,
            CASE WHEN {prod} THEN 'support-bot' ELSE '' END,
            CASE WHEN {prod} THEN 520.0 - 50.0 * (ln({_u(q, n, 16)}) + ln({_u(q, n, 17)})) END,
            CASE WHEN {prod} THEN 90 + 60 * {_u(q, n, 18)} END,
            CASE WHEN {prod} THEN 250 + 200 * {_u(q, n, 19)} END,
            CASE WHEN {prod} THEN 70 + 40 * {_u(q, n, 20)} END,
            CASE WHEN {prod} THEN 300 + CAST(2700 * {_u(q, n, 21)} AS INTEGER) END,
            CASE WHEN {prod} THEN 10 + CAST(70 * {_u(q, n, 22)} AS INTEGER) END,
            CASE WHEN {prod} THEN 40 + CAST(260 * {_u(q, n, 23)} AS INTEGER) END,
            {q.empty()}, 'prompt', {q.empty()}
        FROM {q.series(lo, hi)}, {pairs} AS t{'(k)' if q.pg else ''}
        ORDER BY c.i, t.k"""


def _spans(q: _Sql, lo: int, hi: int, start: datetime, step: float) -> str:
    c = _common(q, start, step)
    n = "(c.i * 8 + s.k)"
    drive = f"{_u(q, n, 30)}"
    # Driver per stage: audio seconds 0.5-6, context tokens 100-4000, characters 10-300.
    x = (f"CASE s.k WHEN 0 THEN 0.5 + 5.5 * {drive} WHEN 1 THEN 0.5 + 5.5 * {drive}"
         f" WHEN 2 THEN 100 + 3900 * {drive} WHEN 3 THEN 10 + 290 * {drive} ELSE 0 END")  # fmt: skip
    ms = (f"CASE s.k WHEN 0 THEN 5 + 2 * ({x}) WHEN 1 THEN 40 + 35 * ({x}) + 10 * {_normal(q, n, 31)}"
          f" WHEN 2 THEN 80 + 0.05 * ({x}) + 15 * {_normal(q, n, 34)}"
          f" WHEN 3 THEN 30 + 0.6 * ({x}) + 8 * {_normal(q, n, 37)}"
          f" ELSE 15 + 10 * {_u(q, n, 40)} END")  # fmt: skip
    key = ("CASE s.k WHEN 0 THEN 'voice.audio_seconds' WHEN 1 THEN 'voice.audio_seconds'"
           " WHEN 2 THEN 'voice.context_tokens' ELSE 'voice.output_chars' END")  # fmt: skip
    if q.pg:
        attrs = f"CASE WHEN s.k = 4 THEN '{{}}'::json ELSE json_build_object({key}, {x}) END"
        stages = ("(VALUES (0, 'vad', 0), (1, 'asr', 40), (2, 'respond', 300), (3, 'tts', 700),"
                  " (4, 'transport', 900)) AS s(k, name, offset_ms)")  # fmt: skip
    else:
        attrs = f"CASE WHEN s.k = 4 THEN '{{}}' ELSE json_object({key}, {x}) END"
        stages = ("(SELECT 0 AS k, 'vad' AS name, 0 AS offset_ms UNION ALL SELECT 1, 'asr', 40"
                  " UNION ALL SELECT 2, 'respond', 300 UNION ALL SELECT 3, 'tts', 700"
                  " UNION ALL SELECT 4, 'transport', 900) AS s")  # fmt: skip
    start_ns = f"(CAST({c['epoch']} * 1000 AS BIGINT) + s.offset_ms) * 1000000"
    return f"""
        INSERT INTO spans (trace_id, span_id, run_id, name, kind, service_name, start_ns, end_ns,
            status_code, attributes, events)
        SELECT {c['trace']}, {q.hex(n, 16)}, {c['id']}, s.name, 'INTERNAL', 'voiceobs-agent',
            {start_ns}, {start_ns} + CAST(({ms}) * 1000000 AS BIGINT), 'OK', {attrs},
            {"'[]'::json" if q.pg else "'[]'"}
        FROM {q.series(lo, hi)}, {stages}
        WHERE {q.mod('c.i', 20)} <> 7 AND {q.mod('c.i * 7919', 100)} <> 0
            AND {q.mod('c.i / 16', 16)} = 0"""


__all__ = ["CHUNK_RUNS", "seed_sql"]
