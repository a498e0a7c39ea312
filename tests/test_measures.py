"""The vocabulary is the one list of measures: results, store, exporter, SLOs and pages agree with it."""

from __future__ import annotations

import dataclasses

from prometheus_client import generate_latest

from voiceobs import measures, metrics
from voiceobs.quality.scores import QualityScores
from voiceobs.results import RunResult, TurnResult, utcnow
from voiceobs.store import analytics
from voiceobs.store.models import Turn

_NOT_MEASURES = {"turn_index", "prompt_id", "ok", "failure_class", "quality_errors", "transcript",
                 "expected_text", "intent", "started_at", "flags", "kind", "caller", "snr_db"}  # fmt: skip


def test_every_numeric_turn_field_is_a_measure_and_back() -> None:
    fields = [f.name for f in dataclasses.fields(TurnResult) if f.name not in _NOT_MEASURES]
    assert fields == list(measures.TURN_MEASURES)


def test_the_store_has_a_column_for_every_measure() -> None:
    columns = set(Turn.__table__.columns.keys())
    assert set(measures.TURN_MEASURES) <= columns


def test_quality_scores_use_vocabulary_names() -> None:
    names = {f.name for f in dataclasses.fields(QualityScores)} - {"errors", "warnings"}
    assert names <= set(measures.MEASURES)


def test_units_directions_and_histograms() -> None:
    assert measures.measure("turn_latency_ms").histogram == "voiceobs_turn_latency_seconds"
    assert measures.measure("pesq_nb").histogram == "voiceobs_turn_pesq_nb"
    assert measures.measure("wer").worse(0.5, 0.25) and not measures.measure("stoi").worse(0.9, 0.8)
    names = [m.histogram for m in measures.MEASURES.values()]
    assert len(names) == len(set(names))
    assert set(measures.QUALITY_METRICS) <= set(measures.EXPORTED_MEASURES)
    assert all(measures.MEASURES[m].unit == "ms" for m in measures.TIME_MEASURES)


def test_derived_tables_follow_the_vocabulary() -> None:
    assert list(analytics.QUALITY_METRICS) == list(measures.QUALITY_METRICS)
    assert analytics.QUALITY_METRICS["wer"] is False and analytics.QUALITY_METRICS["pesq_wb"] is True
    assert analytics.DEFAULT_QUALITY_THRESHOLDS["wer"] == measures.measure("wer").flag_at
    assert list(metrics.MEASURES) == list(measures.EXPORTED_MEASURES)


def test_the_pushed_histograms_are_named_by_the_vocabulary() -> None:
    run = RunResult(probe_name="p", target_url="ws://t", started_at=utcnow())
    run.turns.append(TurnResult(0, **dict.fromkeys(measures.TIME_MEASURES, 12.0)))
    text = generate_latest(metrics.registry_for_results([run])).decode()
    for name in measures.TIME_MEASURES:
        m = measures.measure(name)
        assert (f"{m.histogram}_count" in text) == m.exported, name


def test_results_json_carries_the_dynamics_measures_and_the_callers_condition() -> None:
    run = RunResult(probe_name="p", target_url="ws://t", started_at=utcnow())
    run.turns.append(TurnResult(0, kind="greeting", greeting_ms=412.5))
    run.turns.append(TurnResult(1, kind="barge_in", barge_in_stop_ms=180.0, clear_ms=175.5, early_endpoints=0,
                                caller={"snr_db": 10.0, "noise": "pink"}, snr_db=10.0))  # fmt: skip
    data = run.to_json()
    assert data["turns"][1]["barge_in_stop_ms"] == 180.0 and data["turns"][1]["caller"]["noise"] == "pink"
    back = RunResult.from_json(data)
    assert back.turns == run.turns
