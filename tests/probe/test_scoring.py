"""Scoring a probe reply: limits are reasons, not crashes; a keyword miss says what may be at fault."""

from __future__ import annotations

import numpy as np

from voiceobs.probe.scoring import (
    SUSPECT_WER,
    intent_verdict,
    keyword_failure_detail,
    keywords_missing,
    score_reply,
)
from voiceobs.quality.checks import MAX_SECONDS

KEYWORDS = ["balance", "account", "dollars"]
MISHEARD = "color me i did go to play it again"


def test_a_high_wer_miss_points_at_the_transcript() -> None:
    assert keywords_missing(MISHEARD, KEYWORDS)
    detail = keyword_failure_detail(2, KEYWORDS, MISHEARD, 1.0)
    assert detail.startswith(
        "none of the expected keywords balance, account, dollars was heard in turn 2;"
    )
    assert "the transcript may be at fault rather than the bot" in detail
    assert "WER 1.00" in detail and repr(MISHEARD) in detail
    assert "\n" not in detail


def test_a_low_wer_miss_is_only_the_missing_words() -> None:
    detail = keyword_failure_detail(1, ["refund"], "your account balance is ten dollars", 0.1)
    assert detail == "none of the expected keywords refund was heard in turn 1"


def test_the_threshold_is_inclusive() -> None:
    assert "may be at fault" in keyword_failure_detail(1, ["x"], "y", SUSPECT_WER)
    assert "may be at fault" not in keyword_failure_detail(1, ["x"], "y", SUSPECT_WER - 0.01)


def test_no_words_heard_is_suspect_even_without_a_wer() -> None:
    detail = keyword_failure_detail(3, ["goodbye"], "", None)
    assert "may be at fault" in detail and "it heard no words" in detail and "WER" not in detail


def test_no_expected_text_and_some_words_makes_no_claim() -> None:
    assert "may be at fault" not in keyword_failure_detail(1, ["x"], "something else", None)


def test_a_known_intent_firms_up_the_verdict() -> None:
    matched = keyword_failure_detail(2, KEYWORDS, MISHEARD, 1.0, intent_matched=True)
    assert "the bot answered the expected intent, so the transcript may be at fault" in matched
    missed = keyword_failure_detail(2, KEYWORDS, MISHEARD, 1.0, intent_matched=False)
    assert "may be at fault" not in missed and "answered another intent" in missed


def test_a_long_transcript_is_shortened() -> None:
    detail = keyword_failure_detail(1, ["x"], "word " * 100, 1.0)
    assert "..." in detail and len(detail) < 400


def test_intent_verdict_reads_the_bots_intent_mark() -> None:
    marks = ["voiceobs-intent:balance", "voiceobs-reply-done"]
    assert intent_verdict("balance", marks) is True
    assert intent_verdict("hours", marks) is False
    assert intent_verdict(None, marks) is None  # the spec expects no intent
    assert intent_verdict("balance", ["voiceobs-reply-done"]) is None  # the bot names none
    # two replies in one turn (a caller turn split in two): the turn ended on the last
    assert intent_verdict("agent", ["voiceobs-intent:hours", "voiceobs-intent:agent"]) is True


def _tone(rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds), dtype=np.float32) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_reply_over_the_limit_gets_too_long_for_every_metric() -> None:
    reply = _tone(8000, MAX_SECONDS + 1)
    scores = score_reply(
        reply,
        8000,
        metrics=["pesq_nb", "stoi", "dnsmos_ovrl", "wer"],
        reference=reply,
        expected_text="hello",
    )
    assert scores.values == {}
    assert scores.errors == {
        "pesq_nb": "too_long",
        "stoi": "too_long",
        "dnsmos_ovrl": "too_long",
        "wer": "too_long",
    }
    assert scores.transcript is None


def test_reference_over_the_limit_is_a_reason_too() -> None:
    reply = _tone(8000, 3)
    golden = _tone(8000, MAX_SECONDS + 1)
    scores = score_reply(reply, 8000, metrics=["stoi"], reference=golden)
    assert scores.errors == {"stoi": "too_long"}


def test_reply_within_the_limit_is_scored() -> None:
    reply = _tone(8000, 3)
    scores = score_reply(reply, 8000, metrics=["stoi"], reference=reply)
    assert scores.errors == {}
    assert scores.values["stoi"] > 0.99
