"""What the caller says: prompts rendered once, cut into 20 ms frames, with their EoS found offline.

The end of the caller's speech (EoS) anchors every latency a probe reports, so
it is found once per prompt from the audio itself (the last 20 ms frame whose
level is above the speech threshold) rather than guessed at call time. The
wire form of each frame (mu-law base64 for Twilio, int16 bytes for raw PCM)
is also computed here, once, so the pacing loop only has to send bytes.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from voiceobs.audio.g711 import float_to_int16, mulaw_decode, mulaw_encode
from voiceobs.audio.io import load_audio
from voiceobs.audio.tts import Voice, cache_key, render_speech
from voiceobs.errors import AudioError

if TYPE_CHECKING:
    from voiceobs.probe.spec import Caller

FRAME_MS = 20

#: Level (dBFS) a 20 ms frame must exceed to count as speech when finding EoS.
#: Both speech engines render (near) digital silence between utterances, so any
#: sane threshold finds the same frame; -40 dBFS also ignores a noisy WAV's floor.
SPEECH_THRESHOLD_DBFS = -40.0

#: Longest prompt WAV accepted: as long as the longest reply a turn waits for.
MAX_PROMPT_SECONDS = 600.0


def frame_samples(sample_rate: int) -> int:
    """Samples in one 20 ms frame."""
    return sample_rate * FRAME_MS // 1000


def levels_dbfs(frames: np.ndarray, full_scale: float = 1.0) -> np.ndarray:
    """RMS level in dBFS of each row of ``frames`` (digital silence gives -120)."""
    x = np.asarray(frames, dtype=np.float64)
    mean_square = np.einsum("ij,ij->i", x, x) / (x.shape[1] * full_scale * full_scale)
    return 10.0 * np.log10(np.maximum(mean_square, 1e-12))


def frame_levels_dbfs(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS level of each whole 20 ms frame of float audio in dBFS."""
    n = frame_samples(sample_rate)
    usable = len(audio) // n * n
    return levels_dbfs(np.asarray(audio[:usable]).reshape(-1, n))


@dataclass(frozen=True)
class Prompt:
    """A prompt ready to send: audio as the wire will carry it, frames, speech bounds.

    ``audio`` is what the target receives after the protocol's encoding (for
    Twilio, the mu-law round trip), so it is the right reference for intrusive
    scoring and alignment.
    """

    key: str
    text: str | None
    sample_rate: int
    audio: np.ndarray
    wire: tuple[str | bytes, ...]
    first_speech_frame: int
    last_speech_frame: int
    #: The signal-to-noise ratio the prompt was sent with (a hard caller's noise), measured.
    snr_db: float | None = None

    @property
    def n_frames(self) -> int:
        """Frames in the prompt (the last one zero-padded)."""
        return len(self.wire)

    @property
    def eos_offset_s(self) -> float:
        """When EoS happens, in seconds after the prompt's first frame is sent."""
        return self.last_speech_frame * FRAME_MS / 1000.0

    @property
    def duration_s(self) -> float:
        """Length of the prompt as sent."""
        return self.n_frames * FRAME_MS / 1000.0


def find_speech_bounds(
    audio: np.ndarray, sample_rate: int, threshold_dbfs: float = SPEECH_THRESHOLD_DBFS
) -> tuple[int, int]:
    """Indices of the first and last 20 ms frames carrying speech; AudioError if none do."""
    levels = frame_levels_dbfs(audio, sample_rate)
    speech = np.flatnonzero(levels > threshold_dbfs)
    if speech.size == 0:
        raise AudioError(
            f"the prompt has no frame above {threshold_dbfs:g} dBFS; it is silent or far too quiet"
        )
    return int(speech[0]), int(speech[-1])


def _encode(frames_i16: np.ndarray, protocol: str) -> tuple[tuple[str | bytes, ...], np.ndarray]:
    """Wire payloads per frame, and the int16 audio the target will actually decode."""
    if protocol == "twilio":
        codes = mulaw_encode(frames_i16.reshape(-1)).reshape(frames_i16.shape)
        wire: tuple[str | bytes, ...] = tuple(
            base64.b64encode(row.tobytes()).decode("ascii") for row in codes
        )
        decoded = mulaw_decode(codes.reshape(-1))
        return wire, decoded
    if protocol == "pcm":
        le = frames_i16.astype("<i2")
        return tuple(row.tobytes() for row in le), frames_i16.reshape(-1)
    raise ValueError(f"unknown protocol {protocol!r}")


_CACHE: OrderedDict[str, Prompt] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 256


def _key(source: str, sample_rate: int, protocol: str) -> str:
    return hashlib.sha256(f"{source}|{sample_rate}|{protocol}".encode()).hexdigest()[:24]


def build_prompt(
    audio: np.ndarray,
    sample_rate: int,
    protocol: str,
    *,
    key: str = "",
    text: str | None = None,
    caller: Caller | None = None,
) -> Prompt:
    """Cut float audio into frames, encode for ``protocol`` and find its speech bounds.

    With a hard ``caller``, its conditions are applied first; the speech
    bounds (and so EoS) are still those of the clean prompt, since noise
    loud enough to matter would otherwise make every frame look like speech.
    """
    n = frame_samples(sample_rate)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise AudioError("prompt audio must be mono")
    pad = (-len(audio)) % n
    clean = np.concatenate([audio, np.zeros(pad, dtype=np.float32)])
    padded = clean
    if caller is not None:
        from voiceobs.probe.callers import apply_caller

        padded = apply_caller(clean, sample_rate, caller, SPEECH_THRESHOLD_DBFS)
    frames = float_to_int16(padded).reshape(-1, n)
    wire, decoded_i16 = _encode(frames, protocol)
    sent = decoded_i16.astype(np.float32) / 32768.0
    first, last = find_speech_bounds(clean if caller is not None else sent, sample_rate)
    snr = None
    if caller is not None and caller.snr_db is not None:
        from voiceobs.probe.callers import measured_snr_db

        gain = 10 ** (caller.level_db / 20)
        snr = measured_snr_db(clean * gain, sent, sample_rate, SPEECH_THRESHOLD_DBFS + 20 * np.log10(gain))
    return Prompt(
        key=key or hashlib.sha256(frames.tobytes()).hexdigest()[:24],
        text=text,
        sample_rate=sample_rate,
        audio=sent,
        wire=wire,
        first_speech_frame=first,
        last_speech_frame=last,
        snr_db=snr,
    )


def render_with_pauses(text: str, sample_rate: int, voice: Voice) -> np.ndarray:
    """Speak ``text``, with each ``{pause 900ms}`` rendered as that much silence in place."""
    from voiceobs.probe.pauses import split_pauses

    try:
        parts = split_pauses(text)
    except ValueError as exc:
        raise AudioError(f"prompt {text[:60]!r}: {exc}") from None
    if len(parts) == 1 and isinstance(parts[0], str):
        return render_speech(parts[0], sample_rate=sample_rate, voice=voice)
    pieces = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(render_speech(part, sample_rate=sample_rate, voice=voice))
        else:
            pieces.append(np.zeros(round(part * sample_rate / 1000.0), np.float32))
    return np.concatenate(pieces).astype(np.float32)


def load_prompt(
    *,
    text: str | None = None,
    wav: str | Path | None = None,
    sample_rate: int,
    protocol: str,
    voice: Voice | None = None,
    caller: Caller | None = None,
) -> Prompt:
    """The prompt for a turn, from text (spoken by ``voice``) or a WAV file, cached by content hash.

    The key hashes the text and voice (engine and every setting), or the WAV's bytes, and the hard
    caller's conditions, so editing a file or a prompt is picked up while repeats cost nothing.
    """
    voice = voice or Voice()
    if caller is not None and caller.words_per_minute is not None and text is not None:
        voice = dataclasses.replace(voice, words_per_minute=caller.words_per_minute)
    if text is not None:
        source = "text|" + cache_key(text, voice)
    elif wav is not None:
        try:
            data = Path(wav).read_bytes()
        except OSError as exc:
            raise AudioError(f"cannot read prompt WAV {wav}: {exc.strerror or exc}") from None
        source = "wav|" + hashlib.sha256(data).hexdigest()
    else:
        raise AudioError("a prompt needs text or a WAV file")
    if caller is not None:
        source += "|caller:" + caller.model_dump_json()
    key = _key(source, sample_rate, protocol)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    if text is not None:
        audio = render_with_pauses(text, sample_rate, voice)
    else:
        audio = _read_wav(Path(str(wav)), sample_rate)
    prompt = build_prompt(audio, sample_rate, protocol, key=key, text=text, caller=caller)
    with _CACHE_LOCK:
        _CACHE[key] = prompt
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return prompt


def _read_wav(path: Path, sample_rate: int) -> np.ndarray:
    """A prompt WAV as mono float32 at ``sample_rate``; ``AudioError`` naming the file if unusable.

    The shared loader refuses NaN or infinite samples (they would go on the
    wire as full-scale noise) and files over :data:`MAX_PROMPT_SECONDS`
    before reading them; channels are averaged.
    """
    try:
        mono, rate = load_audio(path, downmix=True, max_seconds=MAX_PROMPT_SECONDS)
    except AudioError as exc:
        raise AudioError(f"cannot use prompt WAV: {exc}") from None
    if rate != sample_rate:
        from voiceobs.audio.resample import resample

        return resample(mono, int(rate), sample_rate)
    return np.asarray(mono, dtype=np.float32)


__all__ = [
    "FRAME_MS",
    "MAX_PROMPT_SECONDS",
    "SPEECH_THRESHOLD_DBFS",
    "Prompt",
    "build_prompt",
    "find_speech_bounds",
    "frame_levels_dbfs",
    "frame_samples",
    "levels_dbfs",
    "load_prompt",
    "render_with_pauses",
]
