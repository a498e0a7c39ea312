"""Speech rendering: deterministic, cached, at any rate, with either engine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voiceobs.audio.tts import (
    ESPEAK_RATE,
    Voice,
    cache_key,
    describe_voice,
    parse_voice,
    render_native,
    render_speech,
)
from voiceobs.errors import AudioError

HIBARI = Voice(name="heart", words_per_minute=180, engine="hibari")


def test_render_is_cached_and_deterministic(tmp_path: Path) -> None:
    a = render_speech("Testing one two three.", 16000, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.wav"))
    assert len(files) == 1 and files[0].stem == cache_key("Testing one two three.", Voice())
    b = render_speech("Testing one two three.", 16000, cache_dir=tmp_path)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and 0.01 < np.abs(a).max() <= 1.0
    assert 0.5 < a.shape[0] / 16000 < 5.0


def test_espeak_render_equals_espeak_ng_itself(tmp_path: Path) -> None:
    """Rendering through the pipe gives exactly the samples espeak-ng writes to a file."""
    ref = tmp_path / "ref.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-p", "50", "-g", "0", "-w", str(ref),
         "--", "Hello there."],
        check=True,
    )  # fmt: skip
    expected, rate = sf.read(ref, dtype="float32")
    got = render_speech("Hello there.", ESPEAK_RATE, cache_dir=tmp_path / "cache")
    assert rate == ESPEAK_RATE
    np.testing.assert_array_equal(got, expected)


def test_rate_changes_length_not_content(tmp_path: Path) -> None:
    a16 = render_speech("Hello there.", 16000, cache_dir=tmp_path)
    a8 = render_speech("Hello there.", 8000, cache_dir=tmp_path)
    assert abs(a16.shape[0] - 2 * a8.shape[0]) <= 2


def test_empty_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="empty text"):
        render_speech("   ", 16000, cache_dir=tmp_path)


def test_unknown_espeak_voice_says_so(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="espeak-ng has no voice 'xx-nope'") as info:
        render_speech("Hello.", 16000, Voice(name="xx-nope"), cache_dir=tmp_path)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_hibari_render_is_deterministic_and_cached(tmp_path: Path) -> None:
    text = "Your account balance is one hundred and twenty dollars."
    a, rate = render_native(text, HIBARI, cache_dir=tmp_path)
    assert rate == 24000 and a.dtype == np.int16
    # A fresh cache renders again (no file to read) and must give the same samples.
    b, _ = render_native(text, HIBARI, cache_dir=tmp_path / "other")
    np.testing.assert_array_equal(a, b)
    assert [p.stem for p in tmp_path.glob("*.wav")] == [cache_key(text, HIBARI)]
    # About 3 s of speech at 180 words/min, with the edges cut to ~50/150 ms of silence.
    assert 2.0 < a.size / rate < 4.5
    loud = np.flatnonzero(np.abs(a) > 32)
    assert loud[0] / rate < 0.1 and (a.size - loud[-1]) / rate < 0.25


def test_cache_key_covers_engine_and_every_setting() -> None:
    text = "Hello."
    base = Voice()
    variants = [
        Voice(name="en-gb"),
        Voice(words_per_minute=151),
        Voice(pitch=51),
        Voice(gap_ms=10),
        HIBARI,
        Voice(name="heart", words_per_minute=181, engine="hibari"),
    ]
    keys = {cache_key(text, base), *(cache_key(text, v) for v in variants)}
    assert len(keys) == len(variants) + 1
    assert cache_key("Hello!", base) != cache_key(text, base)


def test_engines_differ_in_what_they_say(tmp_path: Path) -> None:
    esp = render_speech("Hello there.", 16000, cache_dir=tmp_path)
    hib = render_speech("Hello there.", 16000, HIBARI, cache_dir=tmp_path)
    assert esp.size != hib.size or not np.array_equal(esp, hib)
    assert len(list(tmp_path.glob("*.wav"))) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("en-us", Voice()),
        ("en-gb", Voice(name="en-gb")),
        ("espeak", Voice()),
        ("espeak:en-gb", Voice(name="en-gb")),
        ("hibari", HIBARI),
        ("hibari:heart", HIBARI),
    ],
)
def test_parse_voice(text: str, expected: Voice) -> None:
    voice = parse_voice(text)
    assert voice == expected
    assert parse_voice(describe_voice(voice)) == voice


def test_parse_voice_keeps_a_given_rate() -> None:
    assert parse_voice("hibari", 150).words_per_minute == 150
    assert parse_voice("en-us", 200).words_per_minute == 200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hibari:emma", "not in the package"),
        ("hibari:nobody", "unknown hibari voice 'nobody'"),
        ("festival:kal", "unknown speech engine 'festival'"),
        ("  ", "voice is empty"),
    ],
)
def test_parse_voice_refuses(text: str, message: str) -> None:
    with pytest.raises(AudioError, match=message) as info:
        parse_voice(text)
    assert "\n" not in str(info.value)


def test_hibari_refuses_rates_it_cannot_speak() -> None:
    with pytest.raises(AudioError, match="100-400 words per minute"):
        parse_voice("hibari", 60)


def test_unknown_engine_in_a_voice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="unknown speech engine 'nope'"):
        render_speech("Hello.", 16000, Voice(engine="nope"), cache_dir=tmp_path)
