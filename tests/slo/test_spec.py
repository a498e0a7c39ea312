"""SLO specs: what loads, and errors that point at the file, line, SLO and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from voiceobs.errors import SpecError
from voiceobs.slo import dump_slos, load_slos, parse_slos
from voiceobs.slo.spec import parse_objective

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
version: voiceobs/v1
slos:
  - name: lat
    description: replies start fast
    selector: {probe: echo-loopback, labels: {team: voice}}
    sli: {kind: latency, threshold_ms: 800}
    objective: 99.5%
    window: 30d
  - name: pesq
    sli: {kind: quality, measure: pesq_wb, op: ">=", threshold: 3.5, missing: bad}
    objective: 0.99
    window: calendar_month
    alerting: {page: false}
"""


def test_example_spec_for_reference_pipelines_loads() -> None:
    slos = load_slos(ROOT / "probes" / "slos.yaml")
    probes = {s.selector.probe for s in slos}
    assert {"echo-loopback", "codec-phone-line", "agent-conversation"} <= probes
    assert {s.sli.kind for s in slos} == {"availability", "latency", "quality"}


def test_fields_are_parsed_and_round_trip() -> None:
    lat, pesq = parse_slos(GOOD)
    assert lat.objective == pytest.approx(0.995)
    assert lat.period == timedelta(days=30)
    assert lat.sli.measure == "turn_latency_ms" and lat.sli.op == "<=" and lat.sli.threshold == 800
    assert lat.labels == {"team": "voice"}
    assert pesq.calendar and pesq.sli.missing == "bad" and not pesq.alerting.page
    again = parse_slos(dump_slos([lat, pesq]))
    assert [s.to_dict() for s in again] == [lat.to_dict(), pesq.to_dict()]
    assert [s.key for s in again] == [lat.key, pesq.key]
    assert lat.key != pesq.key


@pytest.mark.parametrize(
    ("value", "expected"), [("99.5%", 0.995), (99.5, 0.995), (0.995, 0.995), ("90", 0.9)]
)
def test_objective_forms(value: object, expected: float) -> None:
    assert parse_objective(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("replace", "line", "field", "words"),
    [
        ("threshold_ms: 800", 6, "SLO 'lat' field slos[0].sli", "threshold_ms"),
        ("objective: 99.5%", 7, "SLO 'lat' field slos[0].objective", "100%"),
        ("window: 30d", 8, "SLO 'lat' field slos[0].window", "between 1h and 90d"),
        ("kind: latency", 6, "SLO 'lat' field slos[0].sli.kind", "availability, latency, quality"),
        ("description: replies", 4, "SLO 'lat' field slos[0].descripton", "unknown field"),
    ],
)
def test_errors_name_file_line_slo_and_field(
    tmp_path: Path, replace: str, line: int, field: str, words: str
) -> None:
    bad = {
        "threshold_ms: 800": "threshold_ms: fast",
        "objective: 99.5%": "objective: 100%",
        "window: 30d": "window: 120d",
        "kind: latency": "kind: speed",
        "description: replies": "descripton: replies",
    }[replace]
    path = tmp_path / "slos.yaml"
    path.write_text(GOOD.replace(replace, bad, 1))
    with pytest.raises(SpecError) as info:
        load_slos(path)
    err = info.value
    assert err.path == str(path) and err.line == line
    assert err.field is not None and err.field.startswith(field)
    assert words in str(err) and str(err).startswith(f"{path}:{line}: ")


def test_quality_op_and_measure_are_checked() -> None:
    with pytest.raises(SpecError, match="pesq_wb"):
        parse_slos(GOOD.replace("measure: pesq_wb", "measure: mos"))
    with pytest.raises(SpecError, match="quote it"):
        parse_slos(GOOD.replace('op: ">="', "op: =>"))


def test_version_duplicates_and_yaml_errors() -> None:
    with pytest.raises(SpecError, match="voiceobs/v1"):
        parse_slos(GOOD.replace("voiceobs/v1", "v0"))
    with pytest.raises(SpecError, match="duplicate SLO name"):
        parse_slos(GOOD.replace("name: pesq", "name: lat"))
    with pytest.raises(SpecError) as info:
        parse_slos("version: voiceobs/v1\nslos: [\n", source="x.yaml")
    assert info.value.line is not None and "not valid YAML" in str(info.value)


def test_selectors_take_source_framework_service_and_deployment() -> None:
    from voiceobs.slo import parse_slos

    [slo] = parse_slos(
        "version: voiceobs/v1\nslos:\n  - name: prod\n"
        "    selector: {source: production, framework: livekit, service: bot, deployment: eu}\n"
        "    sli: {kind: availability}\n    objective: 99%\n    window: 7d\n"
    )
    assert slo.selector.to_dict() == {
        "source": "production", "framework": "livekit", "service": "bot", "deployment": "eu"
    }
    q = slo.sli_query()
    assert (q.source, q.framework, q.service, q.deployment) == ("production", "livekit", "bot", "eu")


def test_an_unknown_source_names_the_choices() -> None:
    from voiceobs.errors import SpecError
    from voiceobs.slo import parse_slos

    with pytest.raises(SpecError, match="synthetic, production") as info:
        parse_slos(
            "version: voiceobs/v1\nslos:\n  - name: x\n    selector: {source: real}\n"
            "    sli: {kind: availability}\n    objective: 99%\n    window: 7d\n",
            source="s.yaml",
        )
    assert info.value.line == 4
