"""OpenSLO v1 import: what maps, what is explained, and errors naming the file, SLO and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceobs.cli.main import main
from voiceobs.errors import SpecError
from voiceobs.slo import parse_slos
from voiceobs.slo.openslo import import_openslo, import_openslo_text

VALID = """\
apiVersion: openslo/v1
kind: SLI
metadata: {name: echo-latency-sli}
spec:
  thresholdMetric:
    metricSource:
      type: prometheus
      spec:
        query: voiceobs_turn_latency_seconds_bucket{probe="echo-loopback",region="eu"}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: echo-latency, displayName: Echo latency}
spec:
  service: echo
  indicatorRef: echo-latency-sli
  budgetingMethod: Timeslices
  timeWindow: [{duration: 28d, isRolling: true}]
  objectives:
    - {displayName: fast, op: lte, value: 0.8, target: 0.99}
    - {displayName: ok, op: lte, value: 1.5, target: 0.999}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: echo-availability}
spec:
  description: Calls complete.
  service: echo
  indicator:
    metadata: {name: calls}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: voiceobs, spec: {sli: availability, probe: echo-loopback}}}
        total: {metricSource: {type: voiceobs, spec: {probe: echo-loopback}}}
  timeWindow: [{duration: 1M, isRolling: false, calendar: {startTime: "2024-01-01 00:00:00", timeZone: UTC}}]
  objectives: [{target: 0.995}]
  alertPolicies: [page-fast]
---
apiVersion: openslo/v1
kind: Service
metadata: {name: echo}
spec: {}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: codec-pesq}
spec:
  indicator:
    spec:
      thresholdMetric:
        metricSource: {type: voiceobs, spec: {measure: pesq_nb, probe: codec-loopback}}
  timeWindow: [{duration: 7d, isRolling: true}]
  objectives: [{op: gte, value: 3.0, targetPercent: 99}]
"""


def test_valid_document_maps_to_native_slos() -> None:
    result = import_openslo_text(VALID, source="openslo.yaml")
    names = [s.name for s in result.slos]
    assert names == ["echo-latency-fast", "echo-latency-ok", "echo-availability", "codec-pesq"]
    fast, ok, avail, pesq = result.slos
    assert fast.sli.kind == "latency" and fast.sli.threshold == pytest.approx(800.0)
    assert fast.selector.probe == "echo-loopback" and fast.selector.region == "eu"
    assert fast.window == "28d" and fast.objective == pytest.approx(0.99)
    assert ok.objective == pytest.approx(0.999) and ok.sli.threshold == pytest.approx(1500.0)
    assert avail.sli.kind == "availability" and avail.window == "calendar_month"
    assert avail.description == "Calls complete."
    assert (pesq.sli.measure, pesq.sli.op, pesq.sli.threshold) == ("pesq_nb", ">=", 3.0)
    notes = " ".join(result.notes)
    assert "Timeslices" in notes and "alertPolicies" in notes and "Service" in notes
    # The output is a valid native spec.
    again = parse_slos(result.to_yaml())
    assert [s.to_dict() for s in again] == [s.to_dict() for s in result.slos]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: codec-pesq}",
          "apiVersion: openslo/v2\nkind: SLO\nmetadata: {name: codec-pesq}"),
         "field document[4].apiVersion", "openslo/v1"),
        (("duration: 7d", "duration: 1y"), "SLO 'codec-pesq' field spec.timeWindow[0].duration",
         "invalid duration"),
        (("type: voiceobs, spec: {measure: pesq_nb", "type: datadog, spec: {measure: pesq_nb"),
         "SLO 'codec-pesq' field thresholdMetric.metricSource.type", "cannot be mapped"),
        (("op: gte, value: 3.0", "value: 3.0"), "SLO 'codec-pesq' field spec.objectives[0].op",
         "lt, lte, gt or gte"),
        (("measure: pesq_nb", "measure: mos"), "SLO 'codec-pesq' field spec.indicator.spec."
         "thresholdMetric", "which voiceobs measure"),
        (("indicatorRef: echo-latency-sli", "indicatorRef: nope"),
         "SLO 'echo-latency' field spec.indicatorRef", "no SLI document"),
        (("targetPercent: 99", "targetPercent: 100"),
         "SLO 'codec-pesq' field spec.objectives[0].targetPercent", "between 0 and 100"),
        # OpenSLO's target is a ratio: 2 is a mistake, not 2 %.
        (("target: 0.995", "target: 2"),
         "SLO 'echo-availability' field spec.objectives[0].target", "between 0 and 1"),
        (("target: 0.995", "target: .nan"),
         "SLO 'echo-availability' field spec.objectives[0].target", "a ratio"),
        (("op: gte, value: 3.0", "op: gte, value: .inf"),
         "SLO 'codec-pesq' field spec.objectives[0].value", "finite number"),
        # Strings where mappings belong are one-line errors, not tracebacks.
        (("metadata: {name: codec-pesq}", "metadata: codec-pesq"),
         "field metadata", "must be a mapping"),
    ],
)
def test_invalid_documents_name_file_slo_and_field(
    change: tuple[str, str], field: str, words: str
) -> None:
    text = VALID.replace(change[0], change[1], 1)
    assert text != VALID
    with pytest.raises(SpecError) as info:
        import_openslo_text(text, source="openslo.yaml")
    assert info.value.path == "openslo.yaml"
    assert info.value.field == field, str(info.value)
    assert words in str(info.value)


def test_calendar_quarters_are_explained_not_guessed() -> None:
    text = VALID.replace("duration: 1M, isRolling: false", "duration: 1Q, isRolling: false")
    with pytest.raises(SpecError, match="calendar months"):
        import_openslo_text(text)


def test_cli_import_writes_spec_and_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "openslo.yaml"
    src.write_text(VALID)
    out = tmp_path / "slos.yaml"
    main(["slo", "import", str(src), "-o", str(out)])
    err = capsys.readouterr().err
    assert "note:" in err and "Timeslices" in err
    assert len(import_openslo(src).slos) == len(parse_slos(out.read_text()))
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: x}\n")
    with pytest.raises(SystemExit) as info:
        main(["slo", "import", str(bad)])
    assert info.value.code == 2
    assert "no document of kind SLO" in capsys.readouterr().err
