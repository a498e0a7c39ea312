"""The Grafana dashboard only queries metrics voiceobs really exports."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from voiceobs import metrics
from voiceobs.results import RunResult, TurnResult
from voiceobs.store import Store

GRAFANA = Path(__file__).resolve().parents[2] / "dashboards" / "grafana" / "voiceobs.json"


def _names(text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"
    }


def _exported_names(store: Store) -> set[str]:
    """Every series name the two real exporters emit: the push registry and the scrape collector."""
    run = RunResult(probe_name="p", target_url="ws://t", region="r", started_at=datetime.now(UTC))
    run.turns.append(TurnResult(turn_index=0, turn_latency_ms=400.0, ttfb_ms=380.0, connect_ms=10.0,
                                path_delay_ms=50.0, pesq_wb=4.0, pesq_nb=3.9, stoi=0.9, estoi=0.8,
                                dnsmos_ovrl=3.3, dnsmos_sig=3.4, dnsmos_bak=3.9, wer=0.0,
                                pacing_error_p99_ms=0.5))  # fmt: skip
    pushed = _names(generate_latest(metrics.registry_for_results([run])).decode())
    store.save_run(run)
    registry = CollectorRegistry()
    registry.register(metrics.StoreCollector(store, min_interval_s=0))
    served = _names(generate_latest(registry).decode())
    assert "voiceobs_turn_latency_seconds_bucket" in served  # the collector really read the run
    return pushed | served


def test_every_query_uses_an_exported_metric(sqlite_url: str) -> None:
    dash = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 12
    store = Store.open(sqlite_url, create=True)
    try:
        exported = _exported_names(store)
    finally:
        store.close()
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
