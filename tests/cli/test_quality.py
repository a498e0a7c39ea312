"""`voiceobs quality REF DEG`: through click and as the installed command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from tests.quality.helpers import degrade
from voiceobs.cli.main import main
from voiceobs.cli.quality import quality


@pytest.fixture
def wavs(speech: dict[str, np.ndarray], tmp_path: Path) -> tuple[Path, Path]:
    ref = speech["greeting"]
    deg = np.concatenate([np.zeros(4000), degrade(ref, "snr20"), np.zeros(800)])
    ref_path, deg_path = tmp_path / "ref.wav", tmp_path / "deg.wav"
    sf.write(ref_path, ref, 16000, subtype="PCM_16")
    sf.write(deg_path, deg, 16000, subtype="PCM_16")
    return ref_path, deg_path


def test_json_output(wavs: tuple[Path, Path]) -> None:
    res = CliRunner().invoke(quality, [str(wavs[0]), str(wavs[1]), "--json", "-m", "stoi,pesq_wb"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["path_delay_ms"] == pytest.approx(250.0, abs=0.1)
    assert 0.9 < data["stoi"] <= 1.0
    assert 1.0 <= data["pesq_wb"] <= 4.65
    assert data["estoi"] is None and data["errors"] == {}


def test_table_output(wavs: tuple[Path, Path]) -> None:
    res = CliRunner().invoke(quality, [str(wavs[0]), str(wavs[1]), "--metrics", "stoi"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["path_delay_ms", "250.000"]
    assert lines[1].startswith("stoi")


def test_bad_file_is_one_line_and_exit_code(tmp_path: Path, wavs: tuple[Path, Path]) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(SystemExit) as exc:
        main(["quality", str(wavs[0]), str(bad)])
    assert exc.value.code == 2


def test_unknown_metric_is_refused(wavs: tuple[Path, Path]) -> None:
    res = CliRunner().invoke(quality, [str(wavs[0]), str(wavs[1]), "-m", "mos"])
    assert res.exit_code != 0
    assert "unknown quality metric" in str(res.exception)


@pytest.mark.slow
def test_installed_command(wavs: tuple[Path, Path]) -> None:
    exe = Path(sys.executable).parent / "voiceobs"
    proc = subprocess.run(
        [str(exe), "quality", str(wavs[0]), str(wavs[1]), "--json", "--metrics", "stoi"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stoi"] > 0.9
    bad = subprocess.run(
        [str(exe), "quality", str(wavs[0]), str(wavs[1].with_name("missing.wav"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "no such file" in bad.stderr


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    code = exc.value.code
    return int(code) if isinstance(code, int) else 1, capsys.readouterr().err


@pytest.mark.parametrize("bad", ["-5", "nan", "inf", "-inf", "61", "two"])
def test_max_delay_out_of_range_is_a_usage_error(
    wavs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, err = _run_main(["quality", str(wavs[0]), str(wavs[1]), f"--max-delay={bad}"], capsys)
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--max-delay" in lines[0], err


def test_max_delay_bound_is_the_library_bound() -> None:
    from voiceobs.cli import quality as cli_quality
    from voiceobs.quality.align import MAX_DELAY_S

    assert cli_quality.MAX_DELAY_S == MAX_DELAY_S


@pytest.mark.parametrize("silent_first", [True, False])
def test_silent_file_is_the_one_blamed(
    wavs: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    silent_first: bool,
) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(48000), 16000, subtype="PCM_16")
    speech = wavs[0]
    args = [str(silent), str(speech)] if silent_first else [str(speech), str(silent)]
    code, err = _run_main(["quality", *args], capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert f"{silent} is silent" in err
    assert str(speech) not in err


def test_unsupported_rate_names_the_file(
    wavs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "odd_rate.wav"
    sf.write(odd, np.random.default_rng(3).standard_normal(11025) * 0.1, 11025)
    code, err = _run_main(["quality", str(wavs[0]), str(odd)], capsys)
    assert code == 2 and "unsupported_rate" in err
    assert str(odd) in err and str(wavs[0]) not in err


def test_too_short_overlap_names_both_files(
    speech: dict[str, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, deg = tmp_path / "a.wav", tmp_path / "b.wav"
    x = speech["greeting"]
    # Each 0.31 s of speech; they share about 0.125 s once lined up.
    sf.write(ref, x[8000:13000], 16000, subtype="PCM_16")
    sf.write(deg, x[11000:16000], 16000, subtype="PCM_16")
    code, err = _run_main(["quality", str(ref), str(deg)], capsys)
    assert code == 2 and "too_short" in err
    assert f"the aligned overlap of {ref} and {deg} is 0.1" in err


def test_file_over_the_limit_is_refused_from_its_header(
    wavs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from voiceobs.quality.checks import MAX_SECONDS

    big = tmp_path / "day_long.wav"
    block = (np.random.default_rng(5).standard_normal(8000 * 60) * 0.1).astype(np.float32)
    with sf.SoundFile(big, "w", samplerate=8000, channels=1, subtype="PCM_16") as f:
        for _ in range(int(MAX_SECONDS // 60) + 1):
            f.write(block)
    code, err = _run_main(["quality", str(wavs[0]), str(big)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "too_long" in err and str(big) in err and "1860.0 s" in err


def test_nan_samples_in_a_file_are_refused_naming_it(
    wavs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nan = tmp_path / "nan.wav"
    audio, _ = sf.read(wavs[1])
    audio[100:103] = np.nan
    sf.write(nan, audio, 16000, subtype="FLOAT")
    code, err = _run_main(["quality", str(wavs[0]), str(nan)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "invalid_samples" in err and str(nan) in err and "3 NaN" in err


def test_quality_has_no_output_path_to_check() -> None:
    # Results go to stdout only: there is no output file that could fail after the work.
    params = {p.name for p in quality.params}
    assert params == {"reference", "degraded", "as_json", "metrics", "downmix", "max_delay"}


def test_command_scores_exactly_what_the_library_scores(wavs: tuple[Path, Path]) -> None:
    # The command loads files compactly (float32 where lossless); the scores must not move.
    from voiceobs.audio.io import load_audio
    from voiceobs.quality import score

    res = CliRunner().invoke(quality, [str(wavs[0]), str(wavs[1]), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    ref, _ = load_audio(wavs[0])
    deg, _ = load_audio(wavs[1])
    assert ref.dtype == np.float64
    expected = score(ref, deg, 16000).as_dict()
    for key, value in expected.items():
        assert data[key] == value, key
