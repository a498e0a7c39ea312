"""The reference pipelines export their traces to `voiceobs collect` as a production bot would.

`voiceobs serve --otlp-endpoint` sends the agent's stage spans (vad, asr,
respond, tts, transport, with their cost drivers) over OTLP/HTTP to a
running `voiceobs collect`; a probe calls the agent into the same store.
The bot's record becomes a production call joined with the probe's by the
trace the probe started, with the agent's own voice-to-voice figure beside
the caller-heard one: what the demo shows on the Calls and Capacity pages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import command, free_port, wait_http
from voiceobs.store import Store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_agent_s_traces_become_a_production_call_joined_with_the_probe(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(db, create=True).close()
    collect_port, agent_port = free_port(), free_port()
    env = {"VOICEOBS_DATA_DIR": str(tmp_path / "data")}
    with command(
        "collect", "--port", str(collect_port), "--db", db, "--idle-timeout", "2s", env=env
    ) as collect:
        wait_http(f"http://127.0.0.1:{collect_port}/readyz", collect, 60.0)
        with command("serve", "--pipeline", "agent", "--port", str(agent_port),
                     "--otlp-endpoint", f"http://127.0.0.1:{collect_port}", env=env) as agent:  # fmt: skip
            wait_http(f"http://127.0.0.1:{agent_port}/readyz", agent, 180.0)
            spec = yaml.safe_load((ROOT / "probes" / "agent.yaml").read_text())
            spec["target"] = f"ws://127.0.0.1:{agent_port}/twilio"
            spec["turns"] = spec["turns"][:2]
            (tmp_path / "agent.yaml").write_text(yaml.safe_dump(spec))
            probe = subprocess.run(
                [sys.executable, "-m", "voiceobs.cli.main", "probe", "run", str(tmp_path / "agent.yaml"),
                 "--db", db, "--json"],
                capture_output=True, text=True, timeout=300, check=False,
                env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            )  # fmt: skip
            assert probe.returncode == 0, probe.stdout[-2000:] + probe.stderr[-2000:]
            [probed] = json.loads(probe.stdout)
            # The agent stays up while the wait runs: its span exporter sends in batches,
            # and a killed agent would take its last batch with it.
            store = Store.open(db)
            try:
                deadline = time.monotonic() + 60

                def joined_in_full(row: Any) -> bool:
                    # The bot's record may first be stored without its last turn's spans (idle
                    # close) and joined so; its late spans re-record it and join it again.
                    return bool(row and row.joined_run_id) and all(
                        t.reported_latency_ms is not None for t in row.turns
                    )

                row = store.get_run(probed["id"])
                while not joined_in_full(row) and time.monotonic() < deadline:
                    time.sleep(0.5)
                    row = store.get_run(probed["id"])
                assert row is not None and row.joined_run_id, (
                    "the agent's record never joined the probe's"
                )
                bot = store.get_run(row.joined_run_id)
                spans = store.spans_for_run(row.id)
            finally:
                store.close()
    assert bot is not None and bot.source == "production" and bot.trace_id == row.trace_id
    assert bot.service == "voiceobs-agent"
    # The stage spans with their cost drivers are in the store (Capacity page, waterfall).
    names = {s.name for s in spans}
    assert {"vad", "asr", "respond", "tts", "transport"} <= names
    assert any("voice.output_chars" in s.attributes for s in spans if s.name == "tts")
    # The agent's own figure beside the caller-heard one, and the time it does not see.
    for turn in row.turns:
        assert turn.reported_latency_ms is not None and turn.turn_latency_ms is not None
        assert turn.unseen_latency_ms == pytest.approx(
            turn.turn_latency_ms - turn.reported_latency_ms
        )
