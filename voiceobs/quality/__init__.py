"""Audio quality: how a call sounded, the way its caller heard it.

Intrusive scores compare what came back with what was sent (PESQ, STOI,
ESTOI), after delay alignment; DNSMOS needs no reference; WER compares a
transcript with the expected words. Everything else in this package is
internal.
"""

from voiceobs.quality.align import DelayEstimate, align, find_delay
from voiceobs.quality.asr import transcribe
from voiceobs.quality.checks import SUPPORTED_RATES
from voiceobs.quality.dnsmos import DnsMos, dnsmos
from voiceobs.quality.scores import METRICS, QualityScores, score, score_batch
from voiceobs.quality.stoi import stoi_batch, stoi_estoi_batch
from voiceobs.quality.wer import wer

__all__ = [
    "METRICS",
    "SUPPORTED_RATES",
    "DelayEstimate",
    "DnsMos",
    "QualityScores",
    "align",
    "dnsmos",
    "find_delay",
    "score",
    "score_batch",
    "stoi_batch",
    "stoi_estoi_batch",
    "transcribe",
    "wer",
]
