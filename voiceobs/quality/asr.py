"""Transcription of a reply's audio with pocketsphinx's bundled en-us model.

WER needs a transcript, and a monitoring tool must not call out to a paid
ASR or download weights at run time; pocketsphinx ships its acoustic model,
dictionary and language model in the wheel. It is no state-of-the-art
recogniser, so its WER is a trend signal (did understanding get worse?)
rather than an absolute one. Its model is wide-band: 8 kHz telephone audio
is upsampled but lacks the upper band the model expects, so expect a
higher WER there than for the same words at 16 kHz or above.

Creating a decoder loads the model (about a third of a second), so one is
made per thread and reused: a decoder holds utterance state and is not
safe to share between threads.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from voiceobs.errors import QualityError
from voiceobs.quality.checks import MAX_SECONDS, SILENCE_RMS, as_mono, check_duration

ASR_RATE = 16000

_local = threading.local()


def _decoder() -> Any:
    dec = getattr(_local, "decoder", None)
    if dec is None:
        from pocketsphinx import Decoder

        dec = Decoder(samprate=ASR_RATE, loglevel="FATAL")
        _local.decoder = dec
    return dec


def transcribe(audio: Any, sample_rate: int) -> str:
    """Lower-case words heard in mono ``audio`` ("" when none are recognised)."""
    x = as_mono(audio, "audio").astype(np.float64, copy=False)  # one reply: small
    if x.size == 0:
        raise QualityError("too_short", "cannot transcribe empty audio")
    check_duration(x.shape[0], int(sample_rate), "audio", MAX_SECONDS)
    if sample_rate != ASR_RATE:
        from voiceobs.audio.resample import resample

        x = resample(x.astype(np.float32), int(sample_rate), ASR_RATE).astype(np.float64)
    if float(np.sqrt(np.mean(np.square(x)))) < SILENCE_RMS:
        # The decoder hallucinates a word or two in silence; say nothing instead.
        return ""
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
    dec = _decoder()
    dec.start_utt()
    try:
        dec.process_raw(pcm, full_utt=True)
    finally:
        dec.end_utt()
    hyp = dec.hyp()
    if hyp is None:
        return ""
    words = [w for w in str(hyp.hypstr).split() if not w.startswith(("<", "["))]
    return " ".join(words).lower()


__all__ = ["ASR_RATE", "transcribe"]
