"""The result of a probe call, as plain data shared by the probe, redaction and the store.

These dataclasses sit between modules on purpose: the probe builds them, the
redactor rewrites their text, the store persists them and the spool writes
them as JSON, and none of those has to import another to agree on the shape.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from voiceobs.measures import QUALITY_METRICS, TURN_MEASURES


def new_run_id() -> str:
    """A globally unique run id, so results from many probe hosts never collide."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """The current time, timezone-aware; the store refuses naive datetimes."""
    return datetime.now(UTC)


@dataclass
class TurnResult:
    """What the caller experienced in one exchange; None means not measured."""

    turn_index: int
    prompt_id: str = ""
    ok: bool = True
    failure_class: str | None = None
    connect_ms: float | None = None
    ttfb_ms: float | None = None
    turn_latency_ms: float | None = None
    path_delay_ms: float | None = None
    response_ms: float | None = None
    gap_p50_ms: float | None = None
    gap_p99_ms: float | None = None
    gap_max_ms: float | None = None
    gaps_over_60ms: int | None = None
    pacing_error_p99_ms: float | None = None
    pesq_wb: float | None = None
    pesq_nb: float | None = None
    stoi: float | None = None
    estoi: float | None = None
    dnsmos_ovrl: float | None = None
    dnsmos_sig: float | None = None
    dnsmos_bak: float | None = None
    wer: float | None = None
    reported_latency_ms: float | None = None
    unseen_latency_ms: float | None = None
    stt_ttfb_ms: float | None = None
    llm_ttfb_ms: float | None = None
    tts_ttfb_ms: float | None = None
    endpointing_delay_ms: float | None = None
    interruptions: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tts_characters: int | None = None
    greeting_ms: float | None = None
    endpoint_wait_ms: float | None = None
    talk_over_ms: float | None = None
    early_endpoints: int | None = None
    dead_air_max_ms: float | None = None
    dead_air_count: int | None = None
    barge_in_stop_ms: float | None = None
    clear_ms: float | None = None
    quality_errors: dict[str, str] = field(default_factory=dict)
    #: Reported values refused as implausible (measure -> why); the measure itself is None,
    #: so a known framework bug never reaches an SLI as truth.
    flags: dict[str, str] = field(default_factory=dict)
    transcript: str | None = None
    expected_text: str | None = None
    intent: str | None = None
    #: What the caller did in this turn: ``prompt`` (spoke), ``greeting`` (listened to a bot
    #: that speaks first), ``barge_in`` (interrupted the previous reply) or ``dtmf`` (keypad).
    kind: str = "prompt"
    #: The caller-side condition the turn was placed under (``snr_db``, ``level_db``,
    #: ``words_per_minute``, ``codec``, ``loss``...); empty for a clean caller.
    caller: dict[str, Any] = field(default_factory=dict)
    #: The condition's signal-to-noise ratio, in its own column so quality can be grouped by it.
    snr_db: float | None = None
    started_at: datetime | None = None


@dataclass
class SpanRecord:
    """One finished span in storable form (ids as lower-case hex)."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str | None = None
    run_id: str | None = None
    kind: str = "INTERNAL"
    service_name: str = ""
    status_code: str = "UNSET"
    status_message: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


#: Where a call came from: placed by a voiceobs probe, or a real caller's call a bot reported.
SOURCES: tuple[str, ...] = ("synthetic", "production")


@dataclass
class RunResult:
    """One call with its turns and spans: saved in one transaction.

    ``source`` is ``synthetic`` for a call a probe placed and ``production``
    for a real call a bot described (``voiceobs collect``). ``call_sid``,
    ``stream_sid`` and ``conversation_id`` are what joins the two records of
    one call seen from both sides; ``joined_run_id`` is the other side, once
    joined.
    """

    probe_name: str
    target_url: str
    started_at: datetime
    status: str = "ok"
    id: str = field(default_factory=new_run_id)
    region: str = ""
    pipeline: str = ""
    protocol: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    finished_at: datetime | None = None
    failure_class: str | None = None
    failure_detail: str | None = None
    probe_host: str = ""
    voiceobs_version: str = ""
    trace_id: str | None = None
    source: str = "synthetic"
    framework: str = ""
    service: str = ""
    deployment: str = ""
    call_sid: str | None = None
    stream_sid: str | None = None
    conversation_id: str | None = None
    joined_run_id: str | None = None
    turns: list[TurnResult] = field(default_factory=list)
    spans: list[SpanRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A call succeeded when it ended without a failure class."""
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (datetimes as ISO 8601) for the spool and ``--json`` output."""
        data = dataclasses.asdict(self)
        return _isoformat(data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        """Inverse of :meth:`to_json`."""
        data = dict(data)
        data["started_at"] = _parse_dt(data["started_at"])
        data["finished_at"] = _parse_dt(data.get("finished_at"))
        turns = []
        for t in data.pop("turns", []):
            t = dict(t)
            t["started_at"] = _parse_dt(t.get("started_at"))
            turns.append(TurnResult(**t))
        spans = [SpanRecord(**s) for s in data.pop("spans", [])]
        return cls(**data, turns=turns, spans=spans)


def _isoformat(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _isoformat(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_isoformat(v) for v in value]
    return value


def _parse_dt(value: Any) -> datetime | None:
    if value is None:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


__all__ = ["QUALITY_METRICS", "SOURCES", "TURN_MEASURES", "RunResult", "SpanRecord", "TurnResult", "new_run_id", "utcnow"]
