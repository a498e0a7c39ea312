"""The plausibility rules: each known framework bug is refused, kept out of the turn and counted once."""

from __future__ import annotations

import pytest

from voiceobs.collect.plausible import CEILINGS_MS, RULES, Refusals, check_turn, refuse
from voiceobs.results import RunResult, TurnResult, utcnow


def _turn(**measures: float | int) -> TurnResult:
    return TurnResult(turn_index=0, **measures)  # type: ignore[arg-type]


def test_plausible_values_pass_untouched() -> None:
    turn = check_turn(
        _turn(
            reported_latency_ms=820.0,
            stt_ttfb_ms=180.0,
            llm_ttfb_ms=350.0,
            tts_ttfb_ms=90.0,
            endpointing_delay_ms=500.0,
            interruptions=0,
            input_tokens=120,
            output_tokens=30,
            tts_characters=140,
        ),
        ms_named=["reported_latency_ms"],
    )
    assert turn.flags == {}
    assert (turn.reported_latency_ms, turn.llm_ttfb_ms, turn.input_tokens) == (820.0, 350.0, 120)


@pytest.mark.parametrize("measure", ["llm_ttfb_ms", "endpointing_delay_ms", "input_tokens"])
def test_negative_values_are_refused(measure: str) -> None:
    turn = check_turn(_turn(**{measure: -1}))
    assert getattr(turn, measure) is None
    assert turn.flags[measure].startswith("negative:")


def test_stage_ttfbs_of_an_interrupted_turn_are_refused_and_the_rest_kept() -> None:
    turn = check_turn(
        _turn(
            reported_latency_ms=900.0,
            stt_ttfb_ms=0.2,
            llm_ttfb_ms=104.0,
            tts_ttfb_ms=60.0,
            interruptions=1,
        ),
        interrupted=True,
    )
    assert (turn.stt_ttfb_ms, turn.llm_ttfb_ms, turn.tts_ttfb_ms) == (None, None, None)
    assert {m: r.split(":")[0] for m, r in turn.flags.items()} == dict.fromkeys(
        ("stt_ttfb_ms", "llm_ttfb_ms", "tts_ttfb_ms"), "interrupted"
    )
    assert turn.reported_latency_ms == 900.0 and turn.interruptions == 1


def test_stale_anchor_delays_of_minutes_are_refused() -> None:
    """livekit/agents#6093: 60-200 s end-of-utterance and transcription delays."""
    turn = check_turn(
        _turn(endpointing_delay_ms=187_300.0, stt_ttfb_ms=61_000.0, reported_latency_ms=2_400.0)
    )
    assert turn.endpointing_delay_ms is None and turn.stt_ttfb_ms is None
    assert turn.flags["endpointing_delay_ms"].startswith("too_long:")
    assert turn.reported_latency_ms == 2_400.0


def test_milliseconds_sent_as_seconds_exceed_the_ceiling() -> None:
    # A 0.85 s latency reported as 850 "seconds" becomes 850 000 ms.
    turn = check_turn(_turn(reported_latency_ms=850.0 * 1000))
    assert turn.reported_latency_ms is None
    assert turn.flags["reported_latency_ms"].startswith("too_long:")


def test_seconds_in_a_millisecond_field_are_refused_only_where_the_source_names_ms() -> None:
    named = check_turn(_turn(reported_latency_ms=0.85), ms_named=["reported_latency_ms"])
    assert named.reported_latency_ms is None
    assert named.flags["reported_latency_ms"].startswith("seconds_as_ms:")
    # The same number converted from a seconds field (0.85 ms) is not this bug's shape.
    unnamed = check_turn(_turn(reported_latency_ms=49.0))
    assert unnamed.reported_latency_ms == 49.0 and unnamed.flags == {}


def test_every_time_measure_has_a_ceiling() -> None:
    assert set(CEILINGS_MS) == {
        "reported_latency_ms", "stt_ttfb_ms", "llm_ttfb_ms", "tts_ttfb_ms", "endpointing_delay_ms",
    }  # fmt: skip


def test_refuse_keeps_the_first_reason_and_knows_its_rules() -> None:
    turn = _turn(stt_ttfb_ms=0.0)
    refuse(turn, "stt_ttfb_ms", "not_measured", "reported as 0")
    refuse(turn, "stt_ttfb_ms", "negative", "second reason")
    assert turn.flags["stt_ttfb_ms"] == "not_measured: reported as 0"
    with pytest.raises(ValueError, match="unknown plausibility rule"):
        refuse(turn, "stt_ttfb_ms", "made_up", "x")
    assert "not_measured" in RULES


def test_refusals_count_each_flag_once_across_versions_of_a_call() -> None:
    refusals = Refusals()
    run = RunResult(
        probe_name="bot", target_url="pipecat://bot", started_at=utcnow(), framework="pipecat"
    )
    run.turns.append(check_turn(_turn(llm_ttfb_ms=-1.0)))
    assert refusals.count(run) == 1
    grown = RunResult(
        probe_name="bot", target_url="pipecat://bot", started_at=utcnow(), framework="pipecat"
    )
    grown.turns = [
        check_turn(_turn(llm_ttfb_ms=-1.0)),
        check_turn(TurnResult(turn_index=1, endpointing_delay_ms=90_000.0)),
    ]
    assert refusals.count(grown, already=run) == 1
    assert refusals.snapshot() == {
        ("pipecat", "llm_ttfb_ms", "negative"): 1,
        ("pipecat", "endpointing_delay_ms", "too_long"): 1,
    }
    assert refusals.total == 2
