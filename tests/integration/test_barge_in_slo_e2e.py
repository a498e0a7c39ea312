"""``barge_in_stop_ms <= 500`` for 99% of interruptions, end to end.

Probes interrupt the reference agent; their results go to a real store; the
gate judges the SLO from it; ``voiceobs metrics serve``'s collector exports
the histogram the generated Prometheus rules read; ``voiceobs calls show``
prints the measure. A healthy agent holds the SLO, one that stops 600 ms late
breaks it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.helpers import ServerProcess, voiceobs
from voiceobs.metrics import StoreCollector
from voiceobs.slo import generate_rules, load_slos
from voiceobs.store import Store

pytestmark = pytest.mark.slow

SLOS = """\
version: voiceobs/v1
slos:
  - name: barge-in
    selector: {probe: agent-barge-in}
    sli: {kind: latency, measure: barge_in_stop_ms, threshold_ms: 500}
    objective: 99%
    window: 1d
"""


def _spec(url: str, fault: str = "") -> str:
    params = f"parameters: {{voiceobs_fault: '{fault}'}}\n" if fault else ""
    return (
        "version: voiceobs/v1\nname: agent-barge-in\npipeline: agent\n"
        f"target: {url}\n{params}"
        "calls: 3\nconcurrency: 3\n"
        "timeouts: {connect_s: 5, first_audio_s: 8, call_s: 60}\n"
        "turns:\n"
        "  - prompt: What are your opening hours?\n"
        "    barge_in: {after_ms: 800, prompt: 'Sorry, actually, please cancel my order.'}\n"
    )


@pytest.fixture(scope="module")
def agent() -> Iterator[ServerProcess]:
    srv = ServerProcess("agent")
    try:
        yield srv
    finally:
        srv.stop()


def test_a_barge_in_slo_from_probe_to_gate_prometheus_and_calls_show(agent: ServerProcess, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert voiceobs("db", "upgrade", "--db", db).returncode == 0
    slos = tmp_path / "slos.yaml"
    slos.write_text(SLOS)
    healthy = tmp_path / "healthy.yaml"
    healthy.write_text(_spec(agent.url("twilio")))
    passed = voiceobs("gate", "--slos", str(slos), "--db", db, "--run-probes", str(healthy))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "barge-in: SLI 100" in passed.stdout

    late = tmp_path / "late.yaml"
    late.write_text(_spec(agent.url("twilio"), "stop_late=600"))
    failed = voiceobs("gate", "--slos", str(slos), "--db", db, "--run-probes", str(late))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    # Three interruptions of six stopped within 500 ms.
    assert "barge-in: SLI 50" in failed.stdout

    store = Store.open(db)
    try:
        runs = store.list_runs(probe="agent-barge-in", with_turns=True)
        stops = sorted(t.barge_in_stop_ms for r in runs for t in r.turns if t.kind == "barge_in")
        assert len(stops) == 6 and stops[2] < 500 < stops[3]
        registry = CollectorRegistry()
        registry.register(StoreCollector(store, min_interval_s=0))
        text = generate_latest(registry).decode()
    finally:
        store.close()
    bucket = re.search(r'voiceobs_turn_barge_in_stop_seconds_bucket\{[^}]*le="0.5"[^}]*\} (\S+)', text)
    count = re.search(r"voiceobs_turn_barge_in_stop_seconds_count\{[^}]*\} (\S+)", text)
    assert bucket and count and (float(bucket.group(1)), float(count.group(1))) == (3.0, 6.0)
    # The generated rules read only series the collector exports, at an exported bucket.
    rules = generate_rules(load_slos(slos))
    used = set(re.findall(r"\b(voiceobs_[a-z_]+)\{", rules.to_yaml()))
    assert "voiceobs_turn_barge_in_stop_seconds_bucket" in used
    assert all(name in text for name in used)
    assert not [w for w in rules.warnings if "bucket" in w], rules.warnings

    late_run = next(r for r in runs if any((t.barge_in_stop_ms or 0) > 500 for t in r.turns))
    shown = voiceobs("calls", "show", late_run.id, "--db", db, "--json")
    assert shown.returncode == 0, shown.stderr
    turns = json.loads(shown.stdout)["turns"]
    assert [t["kind"] for t in turns] == ["prompt", "barge_in"]
    assert turns[1]["measures"]["barge_in_stop_ms"] > 500 and "clear_ms" in turns[1]["measures"]
    table = voiceobs("calls", "show", late_run.id, "--db", db)
    assert "barge_in_stop_ms" in table.stdout and "barge_in" in table.stdout
