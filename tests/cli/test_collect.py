"""`voiceobs collect` as a real process: it serves, stores, refuses unsigned webhooks, keeps raw
personal data out of its stderr, and stops on SIGTERM/SIGINT with its queue drained (exit 0)."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import text

from tests.collect.conftest import json_request, json_span, kv, sdk_sender
from tests.collect.test_door import NEEDLES, WRITTEN_AND_SPOKEN
from tests.helpers import command, free_port, wait_http
from voiceobs.store import Store

SECRET = "vapi-secret-only-the-env-knows-1b2c"


def _count(url: str) -> int:
    store = Store.open(url)
    try:
        with store.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM spans")).scalar() or 0)
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_collect_serves_stores_and_stops_cleanly_with_the_queue_drained(sqlite_url: str, sig: signal.Signals) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with command("-vv", "collect", "--port", str(port), "--db", sqlite_url,
                 env={"VOICEOBS_VAPI_SECRET": SECRET}) as proc:  # fmt: skip
        wait_http(f"{base}/readyz", proc)
        provider, _ = sdk_sender(base, resource={"enduser.email": "jane.doe@example.com"})
        tracer = provider.get_tracer("pipecat")
        with tracer.start_as_current_span("conversation"), tracer.start_as_current_span("turn") as turn:
            for key, value in WRITTEN_AND_SPOKEN.items():
                turn.set_attribute(key, value)
        provider.shutdown()
        sent = 2
        for _ in range(20):  # then a burst, the last of it still queued when the signal comes
            batch = [json_span(uuid.uuid4().hex, f"{i + 1:016x}", attributes=[kv("transcript", WRITTEN_AND_SPOKEN["transcript"])]) for i in range(100)]
            r = httpx.post(f"{base}/v1/traces", content=orjson.dumps(json_request(batch)), headers={"Content-Type": "application/json"})
            assert r.status_code == 200
            sent += 100
        hook = httpx.post(f"{base}/webhooks/vapi", content=b'{"message": {"type": "end-of-call-report"}}', headers={"Content-Type": "application/json"})
        assert hook.status_code == 401
        assert SECRET not in " ".join(Path(f"/proc/{proc.pid}/cmdline").read_text().split("\0"))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    assert f"stopped by {sig.name}" in stderr and f"{sent} span(s) stored" in stderr
    assert "Traceback" not in stderr
    assert _count(sqlite_url) == sent
    found = [n for n in NEEDLES if n.lower() in stderr.lower()]
    assert not found, f"stderr holds raw personal data: {found}"
    assert "DEBUG" in stderr  # the log ran at its most talkative


@pytest.mark.slow
def test_collect_starts_while_the_store_is_down_and_spools(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tmp_path / "data"
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    with command("collect", "--port", str(port), "--db", down, env={"VOICEOBS_DATA_DIR": str(data)}) as proc:
        wait_http(f"{base}/readyz", proc)
        assert httpx.get(f"{base}/readyz").json()["store"] == "down"
        r = httpx.post(f"{base}/v1/traces", content=orjson.dumps(json_request([json_span(uuid.uuid4().hex, "1" * 16)])), headers={"Content-Type": "application/json"})
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "spooling until it is back" in err.decode() and "1 spooled" in err.decode()
    assert len(list((data / "spool" / "spans").glob("*.json"))) == 1


def test_bad_flags_are_one_line_errors() -> None:
    import subprocess
    import sys

    for args in (["--max-body", "12XB"], ["--port", "70000"], ["--idle-timeout", "soon"]):
        done = subprocess.run(
            [sys.executable, "-m", "voiceobs.cli.main", "collect", *args],
            capture_output=True, text=True, timeout=60, env={**os.environ},
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error:"), done.stderr
