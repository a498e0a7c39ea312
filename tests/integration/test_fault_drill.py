"""The fault drill: the quick demo end to end, asserting what an SRE would check afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from voiceobs.store import Store
from voiceobs.store.models import ProbeRun, Span, Turn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("drill")
    report = work / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "voiceobs.cli.main", "demo", "--quick", "--dir", str(work),
         "--dashboard-port", "0", "--report", str(report)],
        capture_output=True, text=True, timeout=420, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(report.read_text())
    data["_stdout"] = proc.stdout
    return data


def test_no_probe_result_was_lost(drill: dict) -> None:
    assert drill["calls_placed"] > 0
    assert drill["runs_stored"] == drill["calls_placed"]


def test_each_fault_shows_its_failure_class(drill: dict) -> None:
    phases = drill["failures_by_phase"]
    assert set(phases["healthy"]) == {"demo-agent:ok", "demo-codec:ok"}
    # Added latency slows the reply but every call still completes...
    assert set(phases["latency"]) == {"demo-agent:ok", "demo-codec:ok"}
    assert min(drill["agent_latency_ms_by_phase"]["latency"]) > 1500
    assert max(drill["agent_latency_ms_by_phase"]["healthy"]) < 1500
    # ...while dropped calls are cut mid-reply.
    assert phases["dropped-calls"].get("demo-agent:truncated", 0) >= 1
    # The codec target was never faulted.
    assert all(
        k == "demo-codec:ok"
        for k in {**phases["dropped-calls"], **phases["recovery"]}
        if k.startswith("demo-codec")
    )


def test_slo_went_ok_to_page_to_ok(drill: dict) -> None:
    states = drill["states"]["agent-availability"]
    assert states[0] == "ok"
    assert "page" in states
    assert states[-1] == "ok"
    assert drill["states"]["codec-quality"] == ["ok"]


def test_incident_opened_once_and_resolved(drill: dict) -> None:
    pages = [
        i
        for i in drill["incidents"]
        if i["slo"] == "agent-availability" and i["severity"] == "page"
    ]
    assert len(pages) == 1
    assert pages[0]["state"] == "resolved"


def test_failover_hook_fired_once_and_moved_traffic(drill: dict) -> None:
    firing = [
        d
        for d in drill["deliveries"]
        if d["hook"] == "failover-to-backup" and d["event"] == "firing"
    ]
    assert [d["outcome"] for d in firing] == ["ok"]
    resolved = [
        d
        for d in drill["deliveries"]
        if d["hook"] == "failover-to-backup" and d["event"] == "resolved"
    ]
    assert [d["outcome"] for d in resolved] == ["ok"]
    switches = [h for h in drill["router_history"] if h["event"] == "failover"]
    assert len(switches) == 1 and switches[0]["to"] == "agent-backup"


def test_every_process_exited(drill: dict) -> None:
    assert drill["exit_codes"], "the demo must report its children"
    assert all(code is not None for code in drill["exit_codes"].values())
    for pid in drill["pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_dashboard_was_served(drill: dict) -> None:
    assert drill["dashboard_url"], "the demo leaves a dashboard URL"
    assert drill["dashboard_url"] in drill["_stdout"]


def _store(drill: dict) -> Store:
    return Store.open(drill["db_url"])


def test_the_pipelines_traces_became_production_calls_joined_with_the_probes(drill: dict) -> None:
    assert drill["production_calls"] > 0
    assert 0 < drill["joined_calls"] <= drill["production_calls"]
    store = _store(drill)
    try:
        with store.session() as s:
            production = s.scalars(select(ProbeRun).where(ProbeRun.source == "production")).all()
            assert len(production) == drill["production_calls"]
            joined = [r for r in production if r.joined_run_id]
            probe = s.get(ProbeRun, joined[0].joined_run_id)
            assert probe is not None and probe.source == "synthetic"
            # The agents' stage spans are stored with their cost drivers (the Capacity page).
            stages = set(s.scalars(select(Span.name).distinct()))
            assert {"asr", "respond", "tts"} <= stages, stages
    finally:
        store.close()


def test_the_demo_scores_what_the_quality_page_shows(drill: dict) -> None:
    store = _store(drill)
    try:
        with store.session() as s:
            def measured(probe: str, column: object) -> int:
                q = select(func.count()).select_from(Turn)
                return int(s.scalar(q.where(Turn.probe_name == probe, column.is_not(None))) or 0)  # type: ignore[attr-defined]

            for column in (Turn.pesq_nb, Turn.pesq_wb, Turn.stoi, Turn.estoi):
                assert measured("demo-codec", column) > 0, column
            for column in (Turn.dnsmos_ovrl, Turn.wer):
                assert measured("demo-agent", column) > 0, column
    finally:
        store.close()
