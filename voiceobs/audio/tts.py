"""Speech rendering with a choice of engine, cached by content hash.

Probes speak their prompts and the agent pipeline speaks its replies. Both
engines are deterministic (the same text and settings give the same
samples), which is what makes a prompt's end-of-speech time and a golden
reply reusable: render once, cache by a hash of everything that shapes the
audio (engine and its version, voice, every setting, text), reuse forever.

Engines (:class:`SpeechEngine`, looked up by :attr:`Voice.engine`):

* ``espeak``: espeak-ng, formant synthesis in many languages; the default
  for probe prompts (what every existing spec was written against).
* ``hibari``: the neural voice bundled in the hibari-tts wheel; clearer to
  speech recognisers, the reference agent's default voice.

A voice is written ``engine[:name]`` where people type it (``--voice``,
a spec's ``voice:``): ``hibari``, ``hibari:heart``, ``espeak:en-gb``; any
other word is an espeak-ng voice name (``en-us``), as it always was.

Renders pass through :mod:`voiceobs.audio.render_cache`: checked before
they are cached, written atomically, checked again when read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from voiceobs.audio import render_cache
from voiceobs.audio.espeak import ESPEAK_RATE, EspeakEngine, espeak_binary
from voiceobs.audio.hibari_tts import DEFAULT_VOICE as HIBARI_DEFAULT_VOICE
from voiceobs.audio.hibari_tts import HibariEngine
from voiceobs.audio.voice import SpeechEngine, Voice
from voiceobs.config import data_dir, resolve
from voiceobs.errors import AudioError

_ENGINES: dict[str, SpeechEngine] = {}


def register_engine(engine: SpeechEngine) -> None:
    """Make an engine selectable by its name (replaces one of the same name)."""
    _ENGINES[engine.name] = engine


register_engine(EspeakEngine())
register_engine(HibariEngine())

#: The voice each engine speaks when a voice string names only the engine.
_DEFAULT_NAMES = {"espeak": "en-us", "hibari": HIBARI_DEFAULT_VOICE}


def engines() -> tuple[str, ...]:
    """Names of the registered engines."""
    return tuple(_ENGINES)


def engine_for(voice: Voice) -> SpeechEngine:
    """The engine that speaks ``voice``; a one-line error naming the choices if none does."""
    engine = _ENGINES.get(voice.engine)
    if engine is None:
        raise AudioError(
            f"unknown speech engine {voice.engine!r}; use one of {', '.join(_ENGINES)}"
        )
    return engine


def parse_voice(text: str, words_per_minute: int | None = None) -> Voice:
    """A :class:`Voice` from ``engine[:name]`` or a bare espeak-ng voice name.

    ``words_per_minute=None`` takes the engine's own default rate. Raises
    :class:`AudioError` (one line) for an unknown engine or a voice the
    engine refuses, so a spec or a flag is rejected before any call.
    """
    value = text.strip()
    if not value:
        raise AudioError(
            "the voice is empty; give e.g. `hibari` or an espeak-ng voice like `en-us`"
        )
    engine_name, _, name = value.partition(":")
    if engine_name not in _ENGINES:
        if ":" in value:
            raise AudioError(
                f"unknown speech engine {engine_name!r} in voice {value!r}; "
                f"use one of {', '.join(_ENGINES)}"
            )
        # A bare word that names no engine is an espeak-ng voice, as specs always had it.
        engine_name, name = "espeak", value
    engine = _ENGINES[engine_name]
    voice = Voice(
        name=name or _DEFAULT_NAMES.get(engine_name, ""),
        words_per_minute=words_per_minute or engine.default_words_per_minute,
        engine=engine_name,
    )
    engine.check(voice)
    return voice


def describe_voice(voice: Voice) -> str:
    """The ``engine:name`` form of a voice (what ``parse_voice`` reads back)."""
    return f"{voice.engine}:{voice.name}"


def cache_key(text: str, voice: Voice) -> str:
    """Content hash of the text, the engine (and its version) and every voice setting."""
    engine = engine_for(voice)
    material = (
        f"{voice.engine}|{engine.version()}|{voice.name}|{voice.words_per_minute}|"
        f"{voice.pitch}|{voice.gap_ms}|{text}"
    )
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _default_cache_dir() -> Path:
    # VOICEOBS_TTS_CACHE lets CI and tests share renders across isolated data dirs.
    override = resolve("tts_cache", None, None)
    if override:
        return Path(override)

    return data_dir() / "tts-cache"


def render_native(
    text: str, voice: Voice | None = None, cache_dir: Path | None = None
) -> tuple[np.ndarray, int]:
    """int16 samples at the engine's native rate, from the cache or a fresh (checked) render."""
    if not text.strip():
        raise AudioError("cannot render empty text; give the prompt some words")
    voice = voice or Voice()
    engine = engine_for(voice)
    cache = cache_dir or _default_cache_dir()
    path = cache / f"{cache_key(text, voice)}.wav"
    hit = render_cache.read_entry(path, text, voice.words_per_minute)
    if hit is not None:
        return hit
    engine.check(voice)
    pcm = engine.synthesize(text, voice)
    problem = render_cache.check_render(pcm, engine.native_rate, text, voice.words_per_minute)
    if problem is not None:
        raise AudioError(f"{engine.name} could not render {_short(text)}: {problem}")
    render_cache.write_entry(path, pcm, engine.native_rate)
    return pcm, engine.native_rate


def render_speech(
    text: str,
    sample_rate: int = 16000,
    voice: Voice | None = None,
    cache_dir: Path | None = None,
) -> np.ndarray:
    """Render ``text`` to mono float32 samples in [-1, 1] at ``sample_rate``.

    The native-rate render is cached on disk; resampling happens on every
    call so one cached file serves every rate.
    """
    pcm, rate = render_native(text, voice, cache_dir)
    audio = pcm.astype(np.float32) / 32768.0
    if rate != sample_rate:
        from voiceobs.audio.resample import resample

        audio = resample(audio, rate, sample_rate)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


__all__ = [
    "ESPEAK_RATE",
    "SpeechEngine",
    "Voice",
    "cache_key",
    "describe_voice",
    "engine_for",
    "engines",
    "espeak_binary",
    "parse_voice",
    "register_engine",
    "render_native",
    "render_speech",
]
