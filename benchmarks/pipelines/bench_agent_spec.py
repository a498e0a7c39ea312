"""Does the reference agent pass its own example spec, call after call?

Starts ``voiceobs serve --pipeline agent`` (a real server process on a free
loopback port) and places the calls of ``probes/agent.yaml`` against it, one
after another (the spec with ``calls: N``), as a user running the README's
example would. Prints how many calls passed, why the others failed, and the
per-turn WER and turn latency of the passing ones.

Baseline: the same run with the agent's old voice, espeak-ng
(``--agent-voice espeak``).

    .venv/bin/python benchmarks/pipelines/bench_agent_spec.py --calls 50
    .venv/bin/python benchmarks/pipelines/bench_agent_spec.py --calls 50 --agent-voice espeak
    .venv/bin/python benchmarks/pipelines/bench_agent_spec.py --calls 50 --prompt-voice hibari
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from voiceobs.probe import parse_spec, run_spec  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 180.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"voiceobs serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("voiceobs serve did not become ready")


def spec_text(path: Path, port: int, calls: int, prompt_voice: str | None) -> str:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^target: .*$", f"target: ws://127.0.0.1:{port}/twilio", text, flags=re.M)
    text += f"\ncalls: {calls}\nconcurrency: 1\n"
    if prompt_voice:
        text += f"voice: {prompt_voice}\n"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--spec", default=str(ROOT / "probes" / "agent.yaml"))
    ap.add_argument("--agent-voice", default=None, help="--voice for serve (default: its own)")
    ap.add_argument("--prompt-voice", default=None, help="override the spec's voice:")
    args = ap.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-agent-spec-") as tmp:
        env = dict(os.environ, VOICEOBS_DATA_DIR=str(Path(tmp) / "data"))
        cmd = [sys.executable, "-m", "voiceobs.cli.main", "serve", "--pipeline", "agent",
               "--port", str(port), "--device", "cpu"]  # fmt: skip
        if args.agent_voice:
            cmd += ["--voice", args.agent_voice]
        server = subprocess.Popen(
            cmd, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        try:
            wait_ready(port, server)
            spec = parse_spec(
                spec_text(Path(args.spec), port, args.calls, args.prompt_voice), args.spec
            )
            os.environ["VOICEOBS_DATA_DIR"] = env["VOICEOBS_DATA_DIR"]
            started = time.monotonic()
            results = run_spec(spec, save=False)
            elapsed = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=30)

    passed = sum(r.ok for r in results)
    print(
        f"spec {args.spec}: {passed}/{len(results)} calls passed "
        f"(agent voice: {args.agent_voice or 'serve default'}, prompt voice: "
        f"{args.prompt_voice or spec.voice}; {elapsed:.0f} s)"
    )
    reasons = collections.Counter(
        f"{r.failure_class}: {r.failure_detail}" for r in results if not r.ok
    )
    for reason, n in reasons.most_common():
        print(f"  {n} x {reason}")
    for i, turn in enumerate(spec.turns):
        wers = [r.turns[i].wer for r in results if len(r.turns) > i and r.turns[i].wer is not None]
        lat = [
            r.turns[i].turn_latency_ms
            for r in results
            if len(r.turns) > i and r.turns[i].turn_latency_ms is not None
        ]
        dns = [
            r.turns[i].dnsmos_ovrl
            for r in results
            if len(r.turns) > i and r.turns[i].dnsmos_ovrl is not None
        ]
        heard = collections.Counter(
            r.turns[i].transcript for r in results if len(r.turns) > i and r.turns[i].transcript
        )
        top = heard.most_common(1)[0] if heard else ("", 0)
        print(
            f"  turn {i + 1} ({turn.expect.intent}): WER mean {np.mean(wers):.3f} max {max(wers):.2f}"
            f" over {len(wers)}; turn latency p50 {np.percentile(lat, 50):.0f} ms"
            f" p95 {np.percentile(lat, 95):.0f} ms; DNSMOS OVRL {np.mean(dns) if dns else float('nan'):.2f};"
            f" most heard {top[0]!r} ({top[1]}x)"
        )


if __name__ == "__main__":
    main()
