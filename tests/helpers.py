"""Test scaffolding shared by every test folder: free ports, reference servers, spec builders.

Reference servers run in child processes (not threads of the test process)
so they do not share the GIL with the probe: the probe's pacing and arrival
stamps are then what they would be against a remote bot.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap

import yaml

from voiceobs.probe.spec import ProbeSpec, parse_spec


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SERVER = textwrap.dedent(
    """
    import sys
    from voiceobs.server.app import ServerConfig
    from voiceobs.server.runner import start_server
    handle = start_server(ServerConfig(pipeline=sys.argv[1], port=0, max_calls=1000, device="cpu"))
    print(handle.port, flush=True)
    sys.stdin.read()
    handle.stop()
    """
)


def _realtime_if_allowed() -> None:
    """Run the target at real-time priority where the host allows it (root in CI).

    The probe is what these tests measure. A target starved of CPU by the rest
    of the test run answers in bursts, and a burst of replies keeps the probe's
    loop busy past a frame's due time: the tests would measure the host's
    scheduler, not the probe. A remote bot's bursts are the network's, and the
    probe reports them as arrival gaps.
    """
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(5))


class ServerProcess:
    """A reference server in a child process, on a free loopback port."""

    def __init__(self, pipeline: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, pipeline],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_realtime_if_allowed,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the {pipeline} server did not start (got {line!r})")
        self.port = int(line)

    def url(self, protocol: str = "twilio", query: str = "") -> str:
        """WebSocket URL of a protocol endpoint."""
        return f"ws://127.0.0.1:{self.port}/{protocol}" + (f"?{query}" if query else "")

    def stop(self) -> None:
        """Close stdin (the child exits) with a deadline, then kill."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


SHORT_PROMPT = "Hello there."


def make_spec(target: str, **overrides: object) -> ProbeSpec:
    """A one-turn loopback spec for ``target``, with fields overridden."""
    data: dict[str, object] = {
        "version": "voiceobs/v1",
        "name": "test-probe",
        "target": target,
        "protocol": "twilio",
        "pipeline": "echo",
        "timeouts": {"connect_s": 3, "first_audio_s": 2, "call_s": 20},
        "turns": [{"prompt": SHORT_PROMPT, "reference": "prompt", "end_silence_ms": 300}],
    }
    data.update(overrides)
    return parse_spec(yaml.safe_dump(data), "test.yaml")
