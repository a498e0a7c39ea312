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
