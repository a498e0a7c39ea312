"""Quality scores and WER of a turn's reply, computed after the call (off the pacing path).

Scoring is CPU-heavy (PESQ, STOI, an ASR pass) and would steal the
milliseconds the pacing loop needs, so it runs only once every call of a run
has hung up. A metric that cannot be computed is None with its reason kept
(``quality_errors``); it never becomes a NaN or a crash.

A reply (or golden reference) longer than the scorers' limit (30 minutes,
``voiceobs.quality.checks.MAX_SECONDS``) is not scored at all: every metric
asked for, WER included, gets ``too_long``, so no scorer is handed audio it
would need unbounded memory or time for.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from voiceobs.errors import QualityError

log = logging.getLogger(__name__)

INTRUSIVE = ("pesq_wb", "pesq_nb", "stoi", "estoi")
NON_INTRUSIVE = ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")


@dataclass
class TurnScores:
    """Scores of one reply; None for metrics not asked for or not computable."""

    values: dict[str, float | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    transcript: str | None = None


def score_reply(
    reply: np.ndarray,
    sample_rate: int,
    *,
    metrics: Sequence[str],
    reference: np.ndarray | None = None,
    expected_text: str | None = None,
    need_transcript: bool = False,
) -> TurnScores:
    """Score a reply against ``reference`` (intrusive) and on its own (DNSMOS), plus WER."""
    out = TurnScores()
    if _too_long(out, reply, sample_rate, metrics, expected_text, need_transcript):
        return out
    audio_metrics = [m for m in metrics if m != "wer"]
    intrusive = [m for m in audio_metrics if m in INTRUSIVE]
    if intrusive and reference is None:
        for m in intrusive:
            out.errors[m] = "no_reference"
        audio_metrics = [m for m in audio_metrics if m not in INTRUSIVE]
    if audio_metrics:
        if reply.size == 0:
            for m in audio_metrics:
                out.errors[m] = "no_audio"
        else:
            _score_audio(out, reply, sample_rate, audio_metrics, reference)
    wants_wer = "wer" in metrics or expected_text is not None
    if (wants_wer or need_transcript) and reply.size:
        try:
            from voiceobs.quality import transcribe

            out.transcript = transcribe(reply, sample_rate)
        except QualityError as exc:
            out.errors["wer"] = exc.reason
        except Exception as exc:  # an ASR failure must not lose the call's timing results
            log.warning("transcription failed: %s", exc)
            out.errors["wer"] = "asr_failed"
    if wants_wer:
        if expected_text is None:
            out.errors["wer"] = "no_expected_text"
        elif out.transcript is not None:
            from voiceobs.quality import wer

            out.values["wer"] = float(wer(expected_text, out.transcript))
        else:
            out.errors.setdefault("wer", "no_audio")
    return out


def _too_long(
    out: TurnScores,
    reply: np.ndarray,
    sample_rate: int,
    metrics: Sequence[str],
    expected_text: str | None,
    need_transcript: bool,
) -> bool:
    """Record ``too_long`` against every metric when the reply is over the scorers' limit."""
    from voiceobs.quality.checks import MAX_SECONDS

    if reply.shape[0] <= MAX_SECONDS * sample_rate:
        return False
    log.warning(
        "reply of %.0f s not scored: over the %g s limit", reply.shape[0] / sample_rate, MAX_SECONDS
    )
    for m in metrics:
        out.errors[m] = "too_long"
    if expected_text is not None or need_transcript:
        out.errors["wer"] = "too_long"
    return True


def _score_audio(
    out: TurnScores,
    reply: np.ndarray,
    sample_rate: int,
    metrics: list[str],
    reference: np.ndarray | None,
) -> None:
    try:
        from voiceobs.quality import score

        ref = reference if reference is not None else reply
        scores = score(ref, reply, sample_rate, metrics=tuple(metrics))
    except QualityError as exc:
        for m in metrics:
            out.errors[m] = exc.reason
        return
    except Exception as exc:  # a scorer bug is recorded per metric, the call is kept
        log.warning("quality scoring failed: %s", exc)
        for m in metrics:
            out.errors[m] = "internal_error"
        return
    errors = getattr(scores, "errors", None) or {}
    for m in metrics:
        value = getattr(scores, m, None)
        if value is None or not np.isfinite(value):
            out.errors[m] = str(errors.get(m, "not_computed"))
        else:
            out.values[m] = float(value)


#: A keyword miss whose transcript is at least this far from the expected reply
#: (WER) may be the recogniser's fault rather than the bot's: pocketsphinx heard
#: espeak-ng's "Your account balance is one hundred and twenty dollars" as
#: "color me i did go to play it again" (WER 1.0) from a bot that was fine.
SUSPECT_WER = 0.5


#: A bot may name the intent it answered in a mark sent with the reply (the
#: reference agent does: ``voiceobs-intent:balance``).
INTENT_MARK_PREFIX = "voiceobs-intent:"


def intent_verdict(expected: str | None, marks: Sequence[str]) -> bool | None:
    """Whether the bot answered the ``expected`` intent; None when either side is unknown."""
    if not expected:
        return None
    named = [m[len(INTENT_MARK_PREFIX) :] for m in marks if m.startswith(INTENT_MARK_PREFIX)]
    if not named:
        return None
    return named[-1] == expected


def keyword_failure_detail(
    turn: int,
    keywords: Sequence[str],
    transcript: str | None,
    wer: float | None,
    intent_matched: bool | None = None,
) -> str:
    """The failure detail for a reply in which none of ``keywords`` was heard.

    The words are missing from the *transcript*, which is not the same as
    missing from the reply: when the transcript is far from the expected text
    (high WER, or no words at all) the detail says the ASR may be at fault and
    shows what it heard, so an SRE checks the recogniser before paging the bot
    team. ``intent_matched`` (when known: see :func:`intent_verdict`) makes
    the verdict firmer either way.
    """
    detail = f"none of the expected keywords {', '.join(keywords)} was heard in turn {turn}"
    if intent_matched is False:
        return detail + "; the bot answered another intent than the expected one"
    heard = (transcript or "").strip()
    if heard:
        shown = heard if len(heard) <= 80 else heard[:77] + "..."
        heard_part = f"it heard {shown!r}"
    else:
        heard_part = "it heard no words"
    suspect = not heard or (wer is not None and wer >= SUSPECT_WER)
    if not suspect:
        return detail
    measure = f"WER {wer:.2f} against the expected reply, " if wer is not None else ""
    who = "the bot answered the expected intent, so " if intent_matched else ""
    return (
        f"{detail}; {who}the transcript may be at fault rather than the bot "
        f"(ASR: {measure}{heard_part}); check the reply audio before paging the bot team"
    )


def keywords_missing(transcript: str | None, keywords: Sequence[str]) -> bool:
    """True when none of the expected keywords was heard (ASR is imperfect: one is enough)."""
    if not keywords:
        return False
    words = set(re.findall(r"[a-z0-9']+", (transcript or "").lower()))
    return not any(k.lower() in words for k in keywords)


__all__ = [
    "INTENT_MARK_PREFIX",
    "INTRUSIVE",
    "NON_INTRUSIVE",
    "SUSPECT_WER",
    "TurnScores",
    "intent_verdict",
    "keyword_failure_detail",
    "keywords_missing",
    "score_reply",
]
