"""`voiceobs metrics serve` as a real process: SIGTERM and Ctrl-C close it in order and exit 0."""

from __future__ import annotations

import signal

import pytest

from tests.helpers import command, free_port, wait_http
from voiceobs.store import Store


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_metrics_serve_stops_cleanly_on_a_signal(sqlite_url: str, sig: signal.Signals) -> None:
    Store.open(sqlite_url, create=True).close()
    port = free_port()
    with command("metrics", "serve", "--db", sqlite_url, "--port", str(port)) as proc:
        wait_http(f"http://127.0.0.1:{port}/metrics", proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert f"stopped by {sig.name}" in err.decode()
    assert "Traceback" not in err.decode()
