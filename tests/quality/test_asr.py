"""pocketsphinx transcription of real speech, at every rate, one decoder per thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from voiceobs.audio.tts import render_speech
from voiceobs.quality import transcribe, wer


def test_transcribes_rendered_digits(tts_cache) -> None:  # type: ignore[no-untyped-def]
    audio = render_speech("one two three four five", 16000, cache_dir=tts_cache)
    heard = transcribe(audio, 16000)
    assert wer("one two three four five", heard) <= 0.4


def test_transcribes_at_other_rates(tts_cache) -> None:  # type: ignore[no-untyped-def]
    audio = render_speech("one two three four five", 24000, cache_dir=tts_cache)
    assert wer("one two three four five", transcribe(audio, 24000)) <= 0.4


def test_silence_transcribes_to_nothing() -> None:
    assert transcribe(np.zeros(16000), 16000) == ""


def test_concurrent_threads_get_their_own_decoder(tts_cache) -> None:  # type: ignore[no-untyped-def]
    audio = render_speech("one two three four five", 16000, cache_dir=tts_cache)
    expected = transcribe(audio, 16000)
    results: list[str] = []
    run: Callable[[], None] = lambda: results.append(transcribe(audio, 16000))  # noqa: E731
    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [expected] * 3
