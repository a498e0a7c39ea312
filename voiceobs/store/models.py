"""The result store's tables, as SQLAlchemy 2 typed models.

One row of ``probe_runs`` is one call a probe placed; its ``turns`` hold what
the caller experienced per exchange. Turns repeat the run's probe, target,
region and start time on purpose: the SLO engine and the dashboard filter
millions of turns by those columns and a time range, and an index on the turn
itself answers that without a join.

Timestamps are timezone-aware UTC. Span times are integer nanoseconds, as
OpenTelemetry gives them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names make Alembic migrations reproducible on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite has no BIGINT autoincrement; plain INTEGER is its 64-bit rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend.

    SQLite keeps naive text, so values are normalised to UTC on the way in and
    tagged as UTC on the way out; comparisons in SQL then order correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ProbeRun(Base):
    """One call placed by a probe: where it went, how it ended, who placed it."""

    __tablename__ = "probe_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    probe_name: Mapped[str] = mapped_column(String(200))
    target_url: Mapped[str] = mapped_column(String(500))
    region: Mapped[str] = mapped_column(String(100), default="")
    pipeline: Mapped[str] = mapped_column(String(100), default="")
    protocol: Mapped[str] = mapped_column(String(20), default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    status: Mapped[str] = mapped_column(String(20))
    failure_class: Mapped[str | None] = mapped_column(String(40), default=None)
    failure_detail: Mapped[str | None] = mapped_column(Text, default=None)
    probe_host: Mapped[str] = mapped_column(String(200), default="")
    voiceobs_version: Mapped[str] = mapped_column(String(40), default="")
    trace_id: Mapped[str | None] = mapped_column(String(32), default=None)
    source: Mapped[str] = mapped_column(String(20), default="synthetic")
    framework: Mapped[str] = mapped_column(String(40), default="")
    service: Mapped[str] = mapped_column(String(200), default="")
    deployment: Mapped[str] = mapped_column(String(100), default="")
    call_sid: Mapped[str | None] = mapped_column(String(100), default=None)
    stream_sid: Mapped[str | None] = mapped_column(String(100), default=None)
    conversation_id: Mapped[str | None] = mapped_column(String(200), default=None)
    joined_run_id: Mapped[str | None] = mapped_column(String(32), default=None)

    turns: Mapped[list[Turn]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="Turn.turn_index"
    )

    __table_args__ = (
        Index("ix_probe_runs_probe_started", "probe_name", "started_at"),
        Index("ix_probe_runs_target_started", "target_url", "started_at"),
        Index("ix_probe_runs_region_started", "region", "started_at"),
        Index("ix_probe_runs_started", "started_at"),
        Index("ix_probe_runs_status_started", "status", "started_at"),
        Index("ix_probe_runs_source_started", "source", "started_at"),
        # The keys one call seen from both sides is joined by.
        Index("ix_probe_runs_trace", "trace_id"),
        Index("ix_probe_runs_call_sid", "call_sid"),
        Index("ix_probe_runs_stream_sid", "stream_sid"),
        Index("ix_probe_runs_conversation", "conversation_id"),
    )


class Turn(Base):
    """One exchange in a call: what was said, when the reply came, how it sounded.

    A measure is NULL when it was not measured (the call failed first, or the
    metric was not asked for); ``quality_errors`` says why a metric is missing.
    """

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("probe_runs.id", ondelete="CASCADE"))
    turn_index: Mapped[int] = mapped_column(Integer)
    prompt_id: Mapped[str] = mapped_column(String(100), default="")
    # Denormalised from the run for index-only SLO and dashboard queries.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    probe_name: Mapped[str] = mapped_column(String(200))
    target_url: Mapped[str] = mapped_column(String(500))
    region: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(20), default="synthetic")
    framework: Mapped[str] = mapped_column(String(40), default="")
    service: Mapped[str] = mapped_column(String(200), default="")
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    failure_class: Mapped[str | None] = mapped_column(String(40), default=None)

    connect_ms: Mapped[float | None] = mapped_column(Float, default=None)
    ttfb_ms: Mapped[float | None] = mapped_column(Float, default=None)
    turn_latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    path_delay_ms: Mapped[float | None] = mapped_column(Float, default=None)
    response_ms: Mapped[float | None] = mapped_column(Float, default=None)
    gap_p50_ms: Mapped[float | None] = mapped_column(Float, default=None)
    gap_p99_ms: Mapped[float | None] = mapped_column(Float, default=None)
    gap_max_ms: Mapped[float | None] = mapped_column(Float, default=None)
    gaps_over_60ms: Mapped[int | None] = mapped_column(Integer, default=None)
    pacing_error_p99_ms: Mapped[float | None] = mapped_column(Float, default=None)

    pesq_wb: Mapped[float | None] = mapped_column(Float, default=None)
    pesq_nb: Mapped[float | None] = mapped_column(Float, default=None)
    stoi: Mapped[float | None] = mapped_column(Float, default=None)
    estoi: Mapped[float | None] = mapped_column(Float, default=None)
    dnsmos_ovrl: Mapped[float | None] = mapped_column(Float, default=None)
    dnsmos_sig: Mapped[float | None] = mapped_column(Float, default=None)
    dnsmos_bak: Mapped[float | None] = mapped_column(Float, default=None)
    wer: Mapped[float | None] = mapped_column(Float, default=None)
    quality_errors: Mapped[dict[str, Any]] = mapped_column(default=dict)

    reported_latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    unseen_latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    stt_ttfb_ms: Mapped[float | None] = mapped_column(Float, default=None)
    llm_ttfb_ms: Mapped[float | None] = mapped_column(Float, default=None)
    tts_ttfb_ms: Mapped[float | None] = mapped_column(Float, default=None)
    endpointing_delay_ms: Mapped[float | None] = mapped_column(Float, default=None)
    interruptions: Mapped[int | None] = mapped_column(Integer, default=None)
    input_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    output_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    tts_characters: Mapped[int | None] = mapped_column(Integer, default=None)
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)

    greeting_ms: Mapped[float | None] = mapped_column(Float, default=None)
    endpoint_wait_ms: Mapped[float | None] = mapped_column(Float, default=None)
    talk_over_ms: Mapped[float | None] = mapped_column(Float, default=None)
    early_endpoints: Mapped[int | None] = mapped_column(Integer, default=None)
    dead_air_max_ms: Mapped[float | None] = mapped_column(Float, default=None)
    dead_air_count: Mapped[int | None] = mapped_column(Integer, default=None)
    barge_in_stop_ms: Mapped[float | None] = mapped_column(Float, default=None)
    clear_ms: Mapped[float | None] = mapped_column(Float, default=None)
    kind: Mapped[str] = mapped_column(String(20), default="prompt")
    caller: Mapped[dict[str, Any]] = mapped_column(default=dict)
    snr_db: Mapped[float | None] = mapped_column(Float, default=None)

    transcript: Mapped[str | None] = mapped_column(Text, default=None)
    expected_text: Mapped[str | None] = mapped_column(Text, default=None)
    intent: Mapped[str | None] = mapped_column(String(100), default=None)

    run: Mapped[ProbeRun] = relationship(back_populates="turns")

    # On PostgreSQL the table is partitioned by day of started_at, and its keys hold it:
    # primary key (id, started_at), unique (run_id, turn_index, started_at); see partitions.
    __table_args__ = (
        UniqueConstraint("run_id", "turn_index"),
        Index("ix_turns_started", "started_at"),
        Index("ix_turns_probe_started", "probe_name", "started_at"),
        Index("ix_turns_target_started", "target_url", "started_at"),
        Index("ix_turns_region_started", "region", "started_at"),
        Index("ix_turns_source_started", "source", "started_at"),
        # Turns sent with noise (a sweep) are few: the Quality page's WER-by-SNR reads them
        # alone instead of every turn of the range (migration 0009).
        Index(
            "ix_turns_snr_started",
            "started_at",
            sqlite_where=text("snr_db IS NOT NULL"),
            postgresql_where=text("snr_db IS NOT NULL"),
        ),
    )


class Span(Base):
    """One OpenTelemetry span, already redacted, from a probe or a pipeline."""

    __tablename__ = "spans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str] = mapped_column(String(16))
    parent_span_id: Mapped[str | None] = mapped_column(String(16), default=None)
    run_id: Mapped[str | None] = mapped_column(String(32), default=None)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="INTERNAL")
    service_name: Mapped[str] = mapped_column(String(200), default="")
    start_ns: Mapped[int] = mapped_column(BigInteger)
    end_ns: Mapped[int] = mapped_column(BigInteger)
    status_code: Mapped[str] = mapped_column(String(10), default="UNSET")
    status_message: Mapped[str | None] = mapped_column(Text, default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    events: Mapped[list[Any]] = mapped_column(default=list)

    # On PostgreSQL the table is partitioned by day of start_ns, and its keys hold it:
    # primary key (id, start_ns), unique (trace_id, span_id, start_ns); see partitions.
    __table_args__ = (
        UniqueConstraint("trace_id", "span_id"),
        Index("ix_spans_run", "run_id"),
        Index("ix_spans_name_start", "name", "start_ns"),
    )


class SloEvaluation(Base):
    """One evaluation of one SLO: the SLI, the budget left, the burn, the alert state."""

    __tablename__ = "slo_evaluations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slo_name: Mapped[str] = mapped_column(String(200))
    window: Mapped[str] = mapped_column(String(20))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    objective: Mapped[float] = mapped_column(Float)
    good: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    sli: Mapped[float | None] = mapped_column(Float, default=None)
    budget_remaining: Mapped[float | None] = mapped_column(Float, default=None)
    burn_rates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    alert_state: Mapped[str] = mapped_column(String(10), default="ok")

    __table_args__ = (Index("ix_slo_evaluations_slo_at", "slo_name", "evaluated_at"),)


class Incident(Base):
    """An SLO alert that fired, from open to resolved.

    ``open_key`` is ``"<slo>|<severity>"`` while the incident is open and NULL
    after: a unique constraint on it lets the store, not process memory,
    guarantee one open incident per SLO and severity when several evaluators
    race (NULLs never collide on SQLite or PostgreSQL).
    """

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slo_name: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="open")
    open_key: Mapped[str | None] = mapped_column(String(220), unique=True, default=None)
    summary: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(200), default=None)

    __table_args__ = (Index("ix_incidents_slo_opened", "slo_name", "opened_at"),)


class HookClaim(Base):
    """One hook's delivery of one incident event, from first claim until delivered or given up.

    Delivery is at least once (Alertmanager's semantics): a claim stays
    ``pending`` until an attempt succeeds, and the next evaluation pass after
    ``next_attempt_at`` tries again, until ``give_up_at``. Whoever delivers
    holds a lease (``delivering`` until ``lease_until``): the store hands it
    out with a conditional UPDATE, so exactly one process delivers at a time
    however many race, and a lease left by a process that died mid-delivery
    simply expires and the next pass takes over. ``idempotency_key`` is sent
    with every attempt so the receiver can drop the repeats at-least-once
    implies. The unique key on (incident, hook, event) keeps one claim per event.
    """

    __tablename__ = "hook_claims"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    hook_name: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(20))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str] = mapped_column(String(200), default="")
    # pending | delivering | delivered | given_up | suppressed (cooldown)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lease_token: Mapped[str | None] = mapped_column(String(64), default=None)
    give_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        UniqueConstraint("incident_id", "hook_name", "event"),
        Index("ix_hook_claims_due", "state", "next_attempt_at"),
    )


class HookDelivery(Base):
    """One delivery attempt of a hook: the audit trail read after an incident."""

    __tablename__ = "hook_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), default=None
    )
    hook_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(20))
    response_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[float | None] = mapped_column(Float, default=None)
    actor: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_hook_deliveries_incident", "incident_id", "attempted_at"),)


class IncidentAction(Base):
    """A person's action on an incident (acknowledge, resolve, manual trigger) and who did it."""

    __tablename__ = "incident_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_incident_actions_incident", "incident_id", "at"),)


class SloRollup(Base):
    """Good and total events of one SLI definition in one UTC minute.

    Evaluating an SLO over 30 days of raw turns means scanning millions of
    rows; summing 43,200 per-minute rows answers the same question exactly
    (the partial minutes at a window's edges are read from the raw rows).
    ``slo_key`` hashes the SLI and selector, not the SLO's name, so renaming an
    SLO keeps its rollup and changing its threshold starts a fresh one.
    """

    __tablename__ = "slo_rollups"

    slo_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    good: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)


class SloRollupState(Base):
    """How far the rollup of one SLI definition has read the raw tables.

    ``turn_watermark`` is the highest ``turns.id`` already folded in: rows
    that arrive late (a spool replayed hours after the call) still get new,
    higher ids, so the minutes they fall in are found and re-aggregated.
    """

    __tablename__ = "slo_rollup_state"

    slo_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[str] = mapped_column(Text, default="")
    turn_watermark: Mapped[int] = mapped_column(BigInteger, default=0)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class LatencyHistogram(Base):
    """Bucket counts of one latency measure over one minute (or one hour) for one series.

    ``width`` is 1 (a minute) or 60 (an hour, merged from its minutes);
    ``minute`` is the first minute covered. ``counts`` is a flat JSON list
    ``[code, count, code, count, ...]`` over the non-empty buckets of the
    log-spaced scale in ``voiceobs.store.histograms``, so one row is read
    with one ``json.loads``. ``n`` and ``total`` give the exact count and mean.
    """

    __tablename__ = "latency_histograms"

    width: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    measure: Mapped[str] = mapped_column(String(40), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    probe_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    target_url: Mapped[str] = mapped_column(String(500), primary_key=True)
    region: Mapped[str] = mapped_column(String(100), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[float] = mapped_column(Float, default=0.0)
    counts: Mapped[str] = mapped_column(Text, default="[]")



class MetricRollup(Base):
    """What the Prometheus exporter reads: 15 minutes of one exported measure for one series.

    ``minute`` is the first minute covered (a multiple of 15); the series is every label the
    exporter writes (source, probe, target, region, framework, service). For
    a histogram measure, ``n`` and ``total`` are the count and sum of the
    successful turns that took it and ``le`` a JSON list of cumulative counts,
    one per bucket bound of the measure (``voiceobs.measures``); for a count
    (``calls_ok`` ...) only ``n`` means something. See ``metric_rollups``.
    """

    __tablename__ = "metric_rollups"

    # The start leads the key: the exporter reads "every row since a minute".
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    measure: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    probe_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    target_url: Mapped[str] = mapped_column(String(500), primary_key=True)
    region: Mapped[str] = mapped_column(String(100), primary_key=True)
    framework: Mapped[str] = mapped_column(String(40), primary_key=True)
    service: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[float] = mapped_column(Float, default=0.0)
    le: Mapped[str] = mapped_column(Text, default="[]")


metadata = Base.metadata

__all__ = [
    "Base",
    "HookClaim",
    "HookDelivery",
    "Incident",
    "IncidentAction",
    "LatencyHistogram",
    "MetricRollup",
    "ProbeRun",
    "SloEvaluation",
    "SloRollup",
    "SloRollupState",
    "Span",
    "Turn",
    "metadata",
]
