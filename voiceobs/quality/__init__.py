"""Audio quality: how a call sounded, the way its caller heard it.

Intrusive scores compare what came back with what was sent (PESQ, STOI,
ESTOI), after delay alignment; DNSMOS needs no reference; WER compares a
transcript with the expected words. Everything else in this package is
internal.
"""

from voiceobs.quality.align import DelayEstimate, align, find_delay
from voiceobs.quality.asr import transcribe
from voiceobs.quality.checks import MAX_SECONDS, SUPPORTED_RATES, check_rate
from voiceobs.quality.dnsmos import DnsMos, dnsmos
from voiceobs.quality.scores import METRICS, QualityScores, parse_metrics, score, score_batch
from voiceobs.quality.stoi import stoi_batch, stoi_estoi_batch
from voiceobs.quality.wer import wer

__all__ = [
    "MAX_SECONDS",
    "METRICS",
    "SUPPORTED_RATES",
    "DelayEstimate",
    "DnsMos",
    "QualityScores",
    "align",
    "check_rate",
    "dnsmos",
    "find_delay",
    "parse_metrics",
    "score",
    "score_batch",
    "stoi_batch",
    "stoi_estoi_batch",
    "transcribe",
    "wer",
]
