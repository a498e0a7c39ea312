"""WER normalisation and pocketsphinx transcription of real speech."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from voiceobs.audio.tts import render_speech
from voiceobs.errors import QualityError
from voiceobs.quality import transcribe, wer
from voiceobs.quality.wer import normalize


@pytest.mark.parametrize(
    ("expected", "heard"),
    [
        ("It's 2 PM.", "its two pm"),
        ("Your balance is $1,250.", "your balance is one thousand two hundred fifty"),
        ("Call 911!", "call nine hundred eleven"),
        ("Rate: 3.5%", "rate three point five percent"),
        ("HELLO, World", "hello world"),
    ],
)
def test_formatting_differences_are_not_errors(expected: str, heard: str) -> None:
    assert wer(expected, heard) == 0.0


def test_word_errors_are_counted() -> None:
    assert wer("please say your account number", "please say account number") == pytest.approx(0.2)
    assert wer("yes", "no") == 1.0
    assert wer("two words", "") == 1.0
    assert normalize("Twenty-2 apples") == "twenty two apples"


def test_empty_expected_text_is_an_error() -> None:
    with pytest.raises(QualityError) as err:
        wer("  ...  ", "anything")
    assert err.value.reason == "no_reference"


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
