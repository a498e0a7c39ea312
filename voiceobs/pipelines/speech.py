"""Sentence-by-sentence speech for streaming replies.

A caller hears the first word of a reply only after its audio exists, and
espeak-ng renders a whole utterance before returning. Splitting the reply
into sentences and rendering them one at a time means the first frames go
out after the first sentence is rendered, not the whole reply; every
sentence is still cached by :func:`voiceobs.audio.tts.render_speech`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import numpy as np

from voiceobs.audio.g711 import float_to_int16
from voiceobs.audio.tts import Voice, render_speech

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    """Split on sentence-ending punctuation; never returns empty pieces."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


async def stream_speech(
    text: str, sample_rate: int, voice: Voice | None = None
) -> AsyncIterator[np.ndarray]:
    """Yield int16 audio per sentence, rendering the next one off the event loop."""
    for sentence in split_sentences(text):
        audio = await asyncio.to_thread(render_speech, sentence, sample_rate, voice)
        yield float_to_int16(audio)


__all__ = ["split_sentences", "stream_speech"]
