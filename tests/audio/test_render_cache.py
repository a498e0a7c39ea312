"""The speech cache never keeps or serves a cut render (a full disk once poisoned it for good)."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from voiceobs.audio import render_cache
from voiceobs.audio.render_cache import (
    BadEntry,
    check_render,
    min_duration_s,
    parse_wav,
    read_entry,
    wav_bytes,
    write_entry,
)
from voiceobs.audio.tts import ESPEAK_RATE, Voice, cache_key, render_speech
from voiceobs.errors import AudioError
from voiceobs.probe.prompts import load_prompt

#: 3.6 s at espeak-ng's default rate: far more than 8 KB of 22.05 kHz samples.
PROMPT = "Hello, this is the voiceobs synthetic probe checking the line for you today."


def _wav_of(pcm: np.ndarray, rate: int = ESPEAK_RATE) -> bytes:
    return wav_bytes(pcm, rate)


def _cut_like_espeak(full: bytes, size: int) -> bytes:
    """What espeak-ng left on a full disk: the file cut at ``size``, its header fixed to match."""
    blob = bytearray(full[:size])
    struct.pack_into("<I", blob, 4, size - 8)
    struct.pack_into("<I", blob, 40, size - 44)
    return bytes(blob)


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount(8) here; the planted-entry tests cover the cache logic")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'}); "
                    "the planted-entry tests cover the cache logic")  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * (free - leave))
    return filler


def test_full_disk_is_a_one_line_error_and_leaves_no_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue repro: the data dir on a 1 MB tmpfs with 8 KB free, render, free space, render."""
    expected = render_speech(PROMPT, 8000, cache_dir=tmp_path / "roomy")
    assert expected.size / 8000 > 3.0
    with small_tmpfs(tmp_path / "disk") as disk:
        monkeypatch.setenv("VOICEOBS_DATA_DIR", str(disk))
        monkeypatch.delenv("VOICEOBS_TTS_CACHE")
        cache = disk / "tts-cache"
        cache.mkdir()
        filler = _fill(disk, leave=8192)
        with pytest.raises(AudioError) as info:
            render_speech(PROMPT, 8000)
        message = str(info.value)
        assert message.startswith(f"no space left on {cache}; free disk space")
        assert "\n" not in message and "voice" not in message
        assert list(cache.iterdir()) == []  # no entry, and no temp file left behind either
        filler.unlink()
        again = render_speech(PROMPT, 8000)
        np.testing.assert_array_equal(again, expected)
        # the prompt a probe then sends is the full-length one
        prompt = load_prompt(text=PROMPT, sample_rate=8000, protocol="twilio")
        assert prompt.duration_s > 3.0
        assert [p.name for p in cache.iterdir()] == [f"{cache_key(PROMPT, Voice())}.wav"]


def test_a_cut_entry_in_the_cache_is_rendered_again(tmp_path: Path) -> None:
    """An entry an older version let in (cut, header fixed to match) is not served."""
    full = render_speech(PROMPT, 8000, cache_dir=tmp_path / "roomy")
    entry = tmp_path / "cache" / f"{cache_key(PROMPT, Voice())}.wav"
    entry.parent.mkdir()
    entry.write_bytes(_cut_like_espeak((tmp_path / "roomy" / entry.name).read_bytes(), 8192))
    got = render_speech(PROMPT, 8000, cache_dir=entry.parent)
    np.testing.assert_array_equal(got, full)
    assert entry.stat().st_size > 100_000  # replaced by the full render


def test_an_entry_shorter_than_its_header_is_rendered_again(tmp_path: Path) -> None:
    full = render_speech(PROMPT, 8000, cache_dir=tmp_path / "roomy")
    entry = tmp_path / "cache" / f"{cache_key(PROMPT, Voice())}.wav"
    entry.parent.mkdir()
    blob = (tmp_path / "roomy" / entry.name).read_bytes()
    entry.write_bytes(blob[: len(blob) - 1000])  # cut after writing: header now lies
    np.testing.assert_array_equal(render_speech(PROMPT, 8000, cache_dir=entry.parent), full)


@pytest.mark.parametrize("junk", [b"", b"RIFF", b"not a wav file at all" * 10])
def test_garbage_entries_are_rendered_again(tmp_path: Path, junk: bytes) -> None:
    entry = tmp_path / f"{cache_key('Hello there.', Voice())}.wav"
    entry.write_bytes(junk)
    audio = render_speech("Hello there.", 16000, cache_dir=tmp_path)
    assert audio.size / 16000 > 0.5


def test_hibari_entries_are_checked_too(tmp_path: Path) -> None:
    voice = Voice(name="heart", words_per_minute=180, engine="hibari")
    text = "Your account balance is one hundred and twenty dollars."
    full = render_speech(text, 8000, voice, cache_dir=tmp_path)
    entry = tmp_path / f"{cache_key(text, voice)}.wav"
    entry.write_bytes(_cut_like_espeak(entry.read_bytes(), 4096))
    np.testing.assert_array_equal(render_speech(text, 8000, voice, cache_dir=tmp_path), full)


def test_read_entry_removes_a_bad_one(tmp_path: Path) -> None:
    entry = tmp_path / "x.wav"
    entry.write_bytes(_wav_of(np.ones(100, np.int16)))  # 5 ms for seven words
    assert read_entry(entry, "seven words that need time to say", 150) is None
    assert not entry.exists()


def test_read_entry_serves_a_good_one(tmp_path: Path) -> None:
    pcm = (np.sin(np.arange(ESPEAK_RATE) / 10) * 8000).astype(np.int16)
    entry = tmp_path / "x.wav"
    entry.write_bytes(_wav_of(pcm))
    got = read_entry(entry, "two words", 150)
    assert got is not None and got[1] == ESPEAK_RATE
    np.testing.assert_array_equal(got[0], pcm)


def test_check_render() -> None:
    one_s = np.full(16000, 100, np.int16)
    assert check_render(one_s, 16000, "hello there", 150) is None
    assert "no audio" in (check_render(one_s[:0], 16000, "hello", 150) or "")
    assert "only silence" in (check_render(np.zeros(16000, np.int16), 16000, "hello", 150) or "")
    cut = check_render(one_s[:1440], 16000, PROMPT, 150)  # 0.09 s, as the poisoned cache served
    assert cut is not None and "cut short" in cut


def test_min_duration_scales_with_words_and_rate() -> None:
    assert min_duration_s("", 150) == 0.0
    assert min_duration_s("one two three four", 150) == pytest.approx(
        2 * min_duration_s("a b", 150)
    )
    assert min_duration_s("one two", 300) == pytest.approx(min_duration_s("one two", 150) / 2)
    # real renders stay well above the bound (espeak-ng, the agent's voice)
    for text in ("Hi.", PROMPT, "Thank you for calling. Goodbye!"):
        n = render_speech(text, 16000).size / 16000
        assert n > 2 * min_duration_s(text, 150), text


def test_parse_wav_roundtrip_and_refusals() -> None:
    pcm = np.arange(-50, 50, dtype=np.int16)
    got, rate = parse_wav(_wav_of(pcm, 24000))
    assert rate == 24000
    np.testing.assert_array_equal(got, pcm)
    blob = _wav_of(pcm)
    for bad in (blob[:20], blob[:-2], b"RIFX" + blob[4:], blob + b"\0\0"):
        with pytest.raises(BadEntry):
            parse_wav(bad)
    stereo = bytearray(blob)
    struct.pack_into("<H", stereo, 22, 2)
    with pytest.raises(BadEntry, match="mono"):
        parse_wav(bytes(stereo))


def test_write_entry_is_atomic_and_reports_a_read_only_folder(tmp_path: Path) -> None:
    pcm = np.ones(1000, np.int16)
    entry = tmp_path / "cache" / "a.wav"
    write_entry(entry, pcm, 16000)
    assert parse_wav(entry.read_bytes())[0].size == 1000
    assert [p.name for p in entry.parent.iterdir()] == ["a.wav"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AudioError, match="cannot write the speech cache") as info:
        write_entry(blocker / "a.wav", pcm, 16000)  # a folder that is a file
    assert "\n" not in str(info.value)


def test_disk_error_names_the_folder() -> None:
    import errno

    full = render_cache.disk_error(OSError(errno.ENOSPC, "No space left on device"), Path("/d"))
    assert str(full).startswith("no space left on /d; free disk space")
    other = render_cache.disk_error(OSError(errno.EACCES, "Permission denied"), Path("/d"))
    assert "Permission denied" in str(other) and "/d" in str(other)
