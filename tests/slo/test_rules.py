"""Prometheus rules: byte-for-byte golden output, and promtool accepts and fires them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from voiceobs.cli.main import main
from voiceobs.slo import load_slos, parse_slos
from voiceobs.slo.rules import generate_rules, histogram_metric

GOLDEN = Path(__file__).with_name("golden")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def test_rules_match_golden_file() -> None:
    # Regenerate on purpose with `python scripts/update_golden.py`, never from a test run.
    got = generate_rules(load_slos(GOLDEN / "rules_input.yaml")).to_yaml()
    assert got == (GOLDEN / "rules_expected.yaml").read_text()


def test_rule_semantics() -> None:
    out = generate_rules(load_slos(GOLDEN / "rules_input.yaml"))
    groups = {g["name"]: g["rules"] for g in out.groups}
    lat = {r["record"]: r["expr"] for r in groups["voiceobs-slo-agent-latency-recordings"]}
    # 7d SLO: the 30-day windows scaled by 7/30 (1h -> 14m, 5m -> 1m10s).
    assert set(lat) >= {"slo:sli_error:ratio_rate1m10s", "slo:sli_error:ratio_rate14m",
                        "slo:sli_error:ratio_rate16h48m"}
    assert 'voiceobs_turn_latency_seconds_bucket{probe="agent-smoke",region="eu-west",le="0.8"}' \
        in lat["slo:sli_error:ratio_rate14m"]
    assert "voiceobs-slo-agent-wer-alerts" in groups
    [ticket_only] = groups["voiceobs-slo-agent-wer-alerts"]
    assert ticket_only["labels"]["severity"] == "ticket"
    assert any("calendar" in w for w in out.warnings)
    assert histogram_metric("ttfb_ms") == "voiceobs_turn_ttfb_seconds"


def test_cli_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["slo", "rules", "--slos", str(GOLDEN / "rules_input.yaml")])
    captured = capsys.readouterr()
    assert captured.out == (GOLDEN / "rules_expected.yaml").read_text()
    assert "calendar" in captured.err


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_promtool_check_rules_accepts_output(tmp_path: Path) -> None:
    for name, source in (("golden.yaml", GOLDEN / "rules_input.yaml"),
                         ("example.yaml", Path(__file__).parents[2] / "probes" / "slos.yaml")):
        (tmp_path / name).write_text(generate_rules(load_slos(source)).to_yaml())
        done = _promtool("check", "rules", name, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout


FAST_BURN = parse_slos("""
version: voiceobs/v1
slos:
  - name: echo-availability
    selector: {probe: echo-loopback}
    sli: {kind: availability}
    objective: 99.5%
    window: 30d
  - name: echo-latency
    selector: {probe: echo-loopback}
    sli: {kind: latency, threshold_ms: 800}
    objective: 99%
    window: 30d
""")


def _alerts(rules: dict[str, Any], slo: str, severities: list[str], standing: str) -> list[dict[str, Any]]:
    """What promtool should report: each alert, its annotations with the standing rendered."""
    out = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule and rule["labels"]["slo"] == slo and rule["labels"]["severity"] in severities:
                annotations = {**rule["annotations"], "standing": standing}
                out.append({"exp_labels": rule["labels"], "exp_annotations": annotations})
    return out


BREACHED_AVAIL = "breached: -3900% of the error budget left over 30d"
BREACHED_LATENCY = "breached: -4900% of the error budget left over 30d"


@pytest.mark.slow
def test_promtool_test_rules_pages_on_a_fast_burn(tmp_path: Path) -> None:
    text = generate_rules(FAST_BURN).to_yaml()
    (tmp_path / "rules.yaml").write_text(text)
    rules = yaml.safe_load(text)
    ok, failed = 'voiceobs_probe_calls_total{probe="echo-loopback",status="%s"}', "failed"
    turns = 'voiceobs_turns_total{probe="echo-loopback",status="%s"}'
    bucket = 'voiceobs_turn_latency_seconds_bucket{probe="echo-loopback",le="%s"}'
    count = 'voiceobs_turn_latency_seconds_count{probe="echo-loopback"}'
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {   # Calls fail 20% of the time for 2 h: the 14.4x page over 1h and 5m fires
                # (0.2 > 0.072); latency is healthy (every turn under 0.8 s) and stays quiet.
                "interval": "1m",
                "input_series": [
                    {"series": ok % "ok", "values": "0+40x180"},
                    {"series": ok % failed, "values": "0+10x180"},
                    {"series": turns % "failed", "values": "0+0x180"},
                    {"series": bucket % "0.8", "values": "0+100x180"},
                    {"series": count, "values": "0+100x180"},
                ],
                "alert_rule_test": [
                    # The standing is rendered from the budget left (1 - 0.2 / 0.005 = -39):
                    # breached, beside the page alert, and each said in its own annotation.
                    {"eval_time": "10m", "alertname": "VoiceobsSLOBurnRate",
                     "exp_alerts": _alerts(rules, "echo-availability", ["page", "ticket"], BREACHED_AVAIL)},
                    {"eval_time": "2h", "alertname": "VoiceobsSLOBurnRate",
                     "exp_alerts": _alerts(rules, "echo-availability", ["page", "ticket"], BREACHED_AVAIL)},
                ],
            },
            {   # Healthy calls, but half the turns answer slower than 0.8 s: latency pages.
                "interval": "1m",
                "input_series": [
                    {"series": ok % "ok", "values": "0+50x120"},
                    {"series": ok % failed, "values": "0+0x120"},
                    {"series": turns % "failed", "values": "0+0x120"},
                    {"series": bucket % "0.8", "values": "0+50x120"},
                    {"series": count, "values": "0+100x120"},
                ],
                "alert_rule_test": [
                    # 1 - 0.5 / 0.01 = -49
                    {"eval_time": "1h", "alertname": "VoiceobsSLOBurnRate",
                     "exp_alerts": _alerts(rules, "echo-latency", ["page", "ticket"], BREACHED_LATENCY)},
                ],
            },
            {   # Everything healthy: nothing fires.
                "interval": "1m",
                "input_series": [
                    {"series": ok % "ok", "values": "0+50x120"},
                    {"series": ok % failed, "values": "0+0x120"},
                    {"series": turns % "failed", "values": "0+0x120"},
                    {"series": bucket % "0.8", "values": "0+100x120"},
                    {"series": count, "values": "0+100x120"},
                ],
                "alert_rule_test": [
                    {"eval_time": "1h", "alertname": "VoiceobsSLOBurnRate", "exp_alerts": []},
                ],
            },
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False, width=1000))
    done = _promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    # And the check fails when the expectation is wrong (a test that can fail).
    tests["tests"][2]["alert_rule_test"][0]["exp_alerts"] = _alerts(
        rules, "echo-latency", ["page"], BREACHED_LATENCY)
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False, width=1000))
    assert _promtool("test", "rules", "tests.yaml", cwd=tmp_path).returncode != 0
