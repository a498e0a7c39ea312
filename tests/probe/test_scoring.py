"""Scoring a probe reply: a reply past the scorers' limit is a reason, not a crash."""

from __future__ import annotations

import numpy as np

from voiceobs.probe.scoring import score_reply
from voiceobs.quality.checks import MAX_SECONDS


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
