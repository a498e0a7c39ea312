"""The Grafana dashboard only queries metrics voiceobs really exports."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import generate_latest

from voiceobs import metrics
from voiceobs.results import RunResult, TurnResult

GRAFANA = Path(__file__).resolve().parents[2] / "dashboards" / "grafana" / "voiceobs.json"


def _exported_names() -> set[str]:
    run = RunResult(probe_name="p", target_url="ws://t", region="r", started_at=datetime.now(UTC))
    run.turns.append(TurnResult(turn_index=0, turn_latency_ms=400.0, ttfb_ms=380.0, connect_ms=10.0,
                                path_delay_ms=50.0, pesq_wb=4.0, stoi=0.9, dnsmos_ovrl=3.3,
                                wer=0.0, pacing_error_p99_ms=0.5))  # fmt: skip
    text = generate_latest(metrics.registry_for_results([run])).decode()
    names = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"
    }
    # the scrape exporter adds its own health metric
    names |= set(re.findall(r'"(voiceobs_store_read_errors)"', Path(metrics.__file__).read_text()))
    return names


def test_every_query_uses_an_exported_metric() -> None:
    dash = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 12
    exported = _exported_names()
    used = {m for e in exprs for m in re.findall(r"voiceobs_[a-z0-9_]+", e)}
    assert used - exported == set(), f"not exported: {sorted(used - exported)}"
    assert {"voiceobs_turn_latency_seconds_bucket", "voiceobs_probe_success",
            "voiceobs_probe_last_success_timestamp_seconds", "voiceobs_quality_score"} <= used  # fmt: skip
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dash["templating"]["list"]} == {
        "datasource",
        "probe",
        "target",
        "region",
    }
