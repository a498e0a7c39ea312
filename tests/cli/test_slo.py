"""`voiceobs slo import -o` and `slo rules -o` check their output before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import exit_code

SLOS = Path(__file__).resolve().parents[1] / "slo" / "golden" / "rules_input.yaml"
OPENSLO = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: echo-availability}
spec:
  indicator:
    metadata: {name: calls}
    spec:
      ratioMetric:
        good: {metricSource: {type: voiceobs, spec: {sli: availability, probe: echo}}}
        total: {metricSource: {type: voiceobs, spec: {probe: echo}}}
  timeWindow: [{duration: 7d, isRolling: true}]
  objectives: [{target: 0.995}]
"""



@pytest.mark.parametrize("command", ["import", "rules"])
def test_output_to_a_read_only_place_is_a_one_line_exit_2(
    command: str, tmp_path: Path, read_only_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "openslo.yaml"
    src.write_text(OPENSLO)
    argv = ["slo", "import", str(src)] if command == "import" else ["slo", "rules", "--slos", str(SLOS)]
    out = read_only_dir / "out.yaml"
    assert exit_code([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --output: cannot write") and len(err.splitlines()) == 1
    assert not out.exists()
    # The same command to a writable place works.
    good = tmp_path / "out.yaml"
    assert exit_code([*argv, "-o", str(good)]) == 0
    assert good.read_text().strip()
