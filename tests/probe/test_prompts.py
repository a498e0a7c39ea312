"""Prompt WAVs: what the caller says, refused with the file named when it cannot be sent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from click.testing import CliRunner

from voiceobs.errors import AudioError
from voiceobs.probe.prompts import MAX_PROMPT_SECONDS, load_prompt


def _speechlike(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2


def test_wav_prompt_loads_as_its_samples(tmp_path: Path) -> None:
    path = tmp_path / "hello.wav"
    audio = _speechlike(8000)
    sf.write(path, audio, 8000, subtype="PCM_16")
    prompt = load_prompt(wav=path, sample_rate=8000, protocol="pcm")
    assert prompt.sample_rate == 8000 and prompt.n_frames == 50
    np.testing.assert_allclose(prompt.audio[: audio.size], audio, atol=1 / 32768)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_refused_naming_the_file(tmp_path: Path, bad: float) -> None:
    path = tmp_path / f"broken_{bad}.wav"
    audio = _speechlike(16000)
    audio[4000:4010] = bad
    sf.write(path, audio, 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as err:
        load_prompt(wav=path, sample_rate=16000, protocol="pcm")
    message = str(err.value)
    assert str(path) in message and "10 NaN or infinite samples" in message
    assert "\n" not in message


def test_overlong_prompt_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "monologue.wav"
    block = np.full(8000 * 60, 0.1, dtype=np.float32)
    with sf.SoundFile(path, "w", samplerate=8000, channels=1, subtype="PCM_16") as f:
        for _ in range(int(MAX_PROMPT_SECONDS // 60) + 1):
            f.write(block)
    with pytest.raises(AudioError, match="too_long") as err:
        load_prompt(wav=path, sample_rate=8000, protocol="twilio")
    assert str(path) in str(err.value)


def test_probe_run_refuses_a_nan_prompt_before_calling(tmp_path: Path) -> None:
    from voiceobs.cli.main import cli

    wav = tmp_path / "nan_prompt.wav"
    audio = _speechlike(8000)
    audio[10] = np.nan
    sf.write(wav, audio, 8000, subtype="FLOAT")
    spec = tmp_path / "probe.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "version": "voiceobs/v1",
                "name": "nan-prompt",
                "target": "ws://127.0.0.1:9/twilio",  # nothing listens: no call may be tried
                "turns": [{"wav": wav.name}],
            }
        )
    )
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(
        cli, ["probe", "run", str(spec), "--db", db], standalone_mode=False, catch_exceptions=True
    )
    assert isinstance(result.exception, AudioError), result.output
    assert result.exception.exit_code == 2
    assert str(wav) in str(result.exception) and "NaN" in str(result.exception)


def test_a_pause_in_a_prompt_is_that_much_silence_before_eos() -> None:
    from voiceobs.audio.tts import Voice, render_speech
    from voiceobs.probe.prompts import frame_levels_dbfs

    paused = load_prompt(text="I'd like to change {pause 900ms} my flight", sample_rate=8000, protocol="pcm")
    # The words rendered apart with 900 ms (7200 samples) of digital silence between them.
    a, b = (render_speech(t, 8000, Voice()) for t in ("I'd like to change", "my flight"))
    assert paused.n_frames == -(-(a.size + 7200 + b.size) // 160)
    assert np.all(paused.audio[a.size : a.size + 7200] == 0)
    # EoS is in the second part: the pause is inside the caller's utterance.
    assert paused.last_speech_frame * 160 > a.size + 7200
    levels = frame_levels_dbfs(paused.audio, 8000)
    quiet = levels < -60
    runs, run = [], 0
    for q in quiet[paused.first_speech_frame : paused.last_speech_frame + 1]:
        run = run + 1 if q else 0
        runs.append(run)
    assert max(runs) >= 45
