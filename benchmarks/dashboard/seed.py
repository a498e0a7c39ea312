"""Fill a store with a realistic month of probe results, fast, for the dashboard benchmark.

Rows go in through SQLAlchemy Core bulk inserts on the store's own tables
(the repository's one-run-per-transaction path would take an hour for a
million turns). The shape mirrors what probes write: two turns per run,
four targets in two regions, a slow region, a daily latency swing, some
failures, and a trace with stage spans on one run in ten. One call in
twenty is a production call (a real caller's, reported by the bot: its own
voice-to-voice figure and stage TTFBs, no caller-side measure), so the
source filter and the production-beside-synthetic views have work to do.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from voiceobs.store import ProbeRun, Span, Store, Turn

TARGETS = [
    "ws://echo.voice.internal/twilio",
    "ws://agent.voice.internal/twilio",
    "ws://codec.voice.internal/pcm",
    "ws://agent-canary.voice.internal/twilio",
]
REGIONS = ["eu-west", "us-east"]
CHUNK = 20_000


def seed(store: Store, turns: int, *, now: datetime | None = None, days: int = 30) -> None:
    """Insert ``turns`` turns (two per run) spread over the ``days`` before ``now``."""
    rng = random.Random(42)
    now = now or datetime.now(UTC)
    start = now - timedelta(days=days)
    n_runs = turns // 2
    step = (now - start).total_seconds() / max(n_runs, 1)
    runs: list[dict[str, Any]] = []
    turn_rows: list[dict[str, Any]] = []
    spans: list[dict[str, Any]] = []
    with store.engine.begin() as conn:
        for i in range(n_runs):
            at = start + timedelta(seconds=i * step)
            target = TARGETS[i % len(TARGETS)]
            region = REGIONS[(i // len(TARGETS)) % len(REGIONS)]
            failed = rng.random() < 0.01
            run_id = uuid.UUID(int=rng.getrandbits(128)).hex
            trace_id = uuid.UUID(int=rng.getrandbits(128)).hex
            if i % 20 == 7:
                _production(rng, runs, turn_rows, run_id, trace_id, at)
                continue
            runs.append(
                {
                    "id": run_id, "probe_name": f"probe-{i % len(TARGETS)}",
                    "target_url": target, "region": region, "pipeline": "agent",
                    "protocol": "twilio", "labels": {}, "started_at": at,
                    "finished_at": at + timedelta(seconds=6),
                    "status": "failed" if failed else "ok",
                    "failure_class": "timeout" if failed else None,
                    "failure_detail": "no reply within 5 s" if failed else None,
                    "probe_host": "bench", "voiceobs_version": "bench", "trace_id": trace_id,
                    "source": "synthetic",
                }
            )  # fmt: skip
            swing = 60.0 * (1 + ((at.hour - 12) / 12) ** 2)
            base = 380.0 + (120.0 if region == "us-east" else 0.0) + swing
            for t in range(2):
                lat = None if failed else base + rng.gammavariate(2.0, 40.0)
                turn_rows.append(
                    {
                        "run_id": run_id, "turn_index": t, "prompt_id": f"p{t}",
                        "started_at": at + timedelta(seconds=2 * t), "probe_name": f"probe-{i % len(TARGETS)}",
                        "target_url": target, "region": region, "ok": not failed,
                        "failure_class": "timeout" if failed else None,
                        "connect_ms": 10 + rng.random() * 20, "ttfb_ms": None if lat is None else lat - 35,
                        "turn_latency_ms": lat,
                        "pesq_wb": None if failed else min(4.5, rng.gauss(3.8, 0.35)),
                        "stoi": None if failed else min(1.0, rng.gauss(0.94, 0.03)),
                        "dnsmos_ovrl": None if failed else rng.gauss(3.3, 0.2),
                        "wer": None if failed else max(0.0, rng.gauss(0.05, 0.06)),
                        "quality_errors": {}, "transcript": "i would like to check my order",
                        "source": "synthetic",
                    }
                )  # fmt: skip
            if i % 10 == 0 and not failed:
                spans.extend(_stage_spans(rng, trace_id, run_id, at))
            if len(turn_rows) >= CHUNK:
                _flush(conn, runs, turn_rows, spans)
        _flush(conn, runs, turn_rows, spans)


def _production(
    rng: random.Random, runs: list[Any], turns: list[Any], run_id: str, trace_id: str, at: datetime
) -> None:
    """A real caller's call as ``voiceobs collect`` stores it: the bot's own figures only."""
    runs.append(
        {
            "id": run_id, "probe_name": "support-bot", "target_url": "pipecat://support-bot",
            "region": "eu-west", "pipeline": "", "protocol": "", "labels": {}, "started_at": at,
            "finished_at": at + timedelta(seconds=40), "status": "ok", "failure_class": None,
            "failure_detail": None, "probe_host": "", "voiceobs_version": "bench",
            "trace_id": trace_id, "source": "production", "framework": "pipecat",
            "service": "support-bot", "deployment": "prod",
        }
    )  # fmt: skip
    for t in range(2):
        turns.append(
            {
                "run_id": run_id, "turn_index": t, "prompt_id": "", "probe_name": "support-bot",
                "started_at": at + timedelta(seconds=8 * t), "target_url": "pipecat://support-bot",
                "region": "eu-west", "ok": True, "failure_class": None, "source": "production",
                "framework": "pipecat", "service": "support-bot",
                "reported_latency_ms": 520.0 + rng.gammavariate(2.0, 50.0),
                "stt_ttfb_ms": 90 + rng.random() * 60, "llm_ttfb_ms": 250 + rng.random() * 200,
                "tts_ttfb_ms": 70 + rng.random() * 40, "input_tokens": rng.randint(300, 3000),
                "output_tokens": rng.randint(10, 80), "tts_characters": rng.randint(40, 300),
                "quality_errors": {},
            }
        )  # fmt: skip


def _stage_spans(
    rng: random.Random, trace_id: str, run_id: str, at: datetime
) -> list[dict[str, Any]]:
    t0 = int(at.timestamp() * 1e9)
    audio = rng.uniform(0.5, 6.0)
    chars = rng.randint(10, 300)
    tokens = rng.randint(100, 4000)
    durations = {
        "vad": 5 + 2 * audio,
        "asr": 40 + 35 * audio + rng.gauss(0, 10),
        "respond": 80 + 0.05 * tokens + rng.gauss(0, 15),
        "tts": 30 + 0.6 * chars + rng.gauss(0, 8),
        "transport": 15 + rng.random() * 10,
    }
    attrs = {
        "vad": {"voice.audio_seconds": audio},
        "asr": {"voice.audio_seconds": audio},
        "respond": {"voice.context_tokens": tokens},
        "tts": {"voice.output_chars": chars},
        "transport": {},
    }
    out = []
    cursor = t0
    for n, (name, ms) in enumerate(durations.items()):
        end = cursor + int(max(ms, 1.0) * 1e6)
        out.append(
            {
                "trace_id": trace_id, "span_id": f"{n + 1:016x}", "parent_span_id": None,
                "run_id": None, "name": name, "kind": "INTERNAL", "service_name": "pipeline",
                "start_ns": cursor, "end_ns": end, "status_code": "OK", "status_message": None,
                "attributes": attrs[name], "events": [],
            }
        )  # fmt: skip
        cursor = end
    return out


def _uniform(table: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the same keys (one executemany): a key a row lacks gets the column default."""
    keys = set().union(*rows)
    fill = {}
    for key in keys:
        default = table.c[key].default
        fill[key] = default.arg if default is not None and default.is_scalar else None
    return [{**fill, **r} for r in rows]


def _flush(conn: Any, runs: list[Any], turns: list[Any], spans: list[Any]) -> None:
    if runs:
        conn.execute(ProbeRun.__table__.insert(), _uniform(ProbeRun.__table__, runs))
    if turns:
        conn.execute(Turn.__table__.insert(), _uniform(Turn.__table__, turns))
    if spans:
        conn.execute(Span.__table__.insert(), spans)
    runs.clear()
    turns.clear()
    spans.clear()
